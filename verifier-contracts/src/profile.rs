//! Gas profile of one call: where a verification's gas goes.
//!
//! [`EvmRunner::profile_call`] runs a call (without committing it) under an inspector that
//! attributes gas to EVM opcodes (per frame, with the gas of precompiles and of called
//! contracts' own opcodes taken out of the `CALL`/`STATICCALL` that made them), counts
//! precompile calls and their gas, and records memory sizes. [`GasProfile::summary`] turns
//! that into the categories the verifier's costs are discussed in (intrinsic and calldata,
//! precompiles, Keccak, memory expansion, the rest).

use std::collections::BTreeMap;

use revm::context::result::ExecutionResult;
use revm::context::{ContextTr, TxEnv};
use revm::handler::MainBuilder;
use revm::interpreter::interpreter_types::{Jumps, MemoryTr};
use revm::interpreter::{CallInputs, CallOutcome as RevmCallOutcome, Interpreter};
use revm::primitives::{Address, Bytes, TxKind, U256};
use revm::{InspectEvm, Inspector};

use crate::error::{EvmError, Result};
use crate::evm::EvmRunner;

/// Calls and gas of one precompile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrecompileUse {
    /// Number of calls.
    pub calls: u64,
    /// Gas spent inside the precompile.
    pub gas: u64,
}

/// Executions and gas of one opcode (memory expansion included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpcodeUse {
    /// Number of executions.
    pub count: u64,
    /// Gas charged by them, without the gas of called contracts or precompiles.
    pub gas: u64,
}

/// Where the gas of one call went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GasProfile {
    /// Gas used by the transaction.
    pub total: u64,
    /// Whether the call succeeded.
    pub success: bool,
    /// Calldata length in bytes.
    pub calldata_bytes: usize,
    /// Zero bytes in the calldata.
    pub calldata_zero_bytes: usize,
    /// Precompile use, by precompile address (its last byte).
    pub precompiles: BTreeMap<u8, PrecompileUse>,
    /// Opcode use, by opcode, summed over all frames.
    pub opcodes: BTreeMap<u8, OpcodeUse>,
    /// Calls of contracts other than precompiles (including the top-level call).
    pub contract_calls: u64,
    /// Largest memory of any frame, in bytes.
    pub max_memory_bytes: usize,
    /// Sum over frames of each frame's final memory size, in bytes.
    pub total_memory_bytes: usize,
    /// Memory expansion cost summed over frames (from each frame's final size).
    pub total_memory_cost: u64,
}

/// Memory expansion cost of `bytes` of memory (`3·w + w²/512` for `w` words).
pub fn memory_cost(bytes: usize) -> u64 {
    let words = bytes.div_ceil(32) as u64;
    3 * words + words * words / 512
}

/// A [`GasProfile`] in the categories of a verifier's cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GasSummary {
    /// Transaction total.
    pub total: u64,
    /// 21,000 base + calldata (4 per zero byte, 16 per other byte).
    pub intrinsic: u64,
    /// ecAdd (0x06) calls and gas.
    pub ec_add: PrecompileUse,
    /// ecMul (0x07) calls and gas.
    pub ec_mul: PrecompileUse,
    /// Pairing (0x08) calls and gas.
    pub pairing: PrecompileUse,
    /// modexp (0x05) calls and gas (field inversions).
    pub modexp: PrecompileUse,
    /// KECCAK256 executions and gas (transcript; memory expansion included).
    pub keccak: OpcodeUse,
    /// Memory expansion of all frames (estimated from their final sizes).
    pub memory: u64,
    /// EXTCODECOPY / CODECOPY / CALLDATACOPY gas (calldata, state and code copies).
    pub copies: u64,
    /// Cold account access and call overhead of contract calls (CALL-family opcodes' own gas).
    pub calls: u64,
    /// MULMOD / ADDMOD executions and gas (field arithmetic proper).
    pub field_ops: OpcodeUse,
    /// Everything else: stack, control flow, memory access, decoding.
    pub rest: u64,
}

impl GasProfile {
    /// Groups the profile into [`GasSummary`] categories.
    pub fn summary(&self) -> GasSummary {
        let nonzero = (self.calldata_bytes - self.calldata_zero_bytes) as u64;
        let intrinsic = 21_000 + 16 * nonzero + 4 * self.calldata_zero_bytes as u64;
        let pre = |a: u8| self.precompiles.get(&a).copied().unwrap_or_default();
        let op = |o: u8| self.opcodes.get(&o).copied().unwrap_or_default();
        let ops = |codes: &[u8]| {
            codes.iter().fold(OpcodeUse::default(), |acc, &o| {
                let u = op(o);
                OpcodeUse {
                    count: acc.count + u.count,
                    gas: acc.gas + u.gas,
                }
            })
        };
        let keccak = op(0x20);
        let field_ops = ops(&[0x08, 0x09]);
        let copy_ops = ops(&[0x3c, 0x39, 0x37]);
        let call_ops = ops(&[0xf1, 0xf4, 0xfa]);
        let opcode_gas: u64 = self.opcodes.values().map(|o| o.gas).sum();
        // Memory expansion is charged inside the opcodes that cause it (mostly MSTORE and
        // copies): it is taken out of `rest`.
        let memory = self.total_memory_cost;
        let accounted = keccak.gas + field_ops.gas + copy_ops.gas + call_ops.gas;
        let rest = opcode_gas.saturating_sub(accounted + memory);
        GasSummary {
            total: self.total,
            intrinsic,
            ec_add: pre(0x06),
            ec_mul: pre(0x07),
            pairing: pre(0x08),
            modexp: pre(0x05),
            keccak,
            memory,
            copies: copy_ops.gas,
            calls: call_ops.gas,
            field_ops,
            rest,
        }
    }
}

impl GasSummary {
    /// One line per category, for reports.
    pub fn table(&self) -> String {
        let pct = |g: u64| 100.0 * g as f64 / self.total.max(1) as f64;
        let mut out = String::new();
        let mut line = |name: &str, detail: String, gas: u64| {
            out.push_str(&format!(
                "| {name} | {detail} | {gas} | {:.1}% |\n",
                pct(gas)
            ));
        };
        line("total", String::new(), self.total);
        line("intrinsic + calldata", String::new(), self.intrinsic);
        line(
            "ecMul (0x07)",
            format!("{} calls", self.ec_mul.calls),
            self.ec_mul.gas,
        );
        line(
            "ecAdd (0x06)",
            format!("{} calls", self.ec_add.calls),
            self.ec_add.gas,
        );
        line(
            "pairing (0x08)",
            format!("{} calls", self.pairing.calls),
            self.pairing.gas,
        );
        line(
            "modexp (0x05)",
            format!("{} calls", self.modexp.calls),
            self.modexp.gas,
        );
        line(
            "keccak256",
            format!("{} hashes", self.keccak.count),
            self.keccak.gas,
        );
        line("memory expansion", String::new(), self.memory);
        line("code/data copies", String::new(), self.copies);
        line("contract calls (access + call)", String::new(), self.calls);
        line(
            "mulmod/addmod",
            format!("{} ops", self.field_ops.count),
            self.field_ops.gas,
        );
        line(
            "other opcodes (stack, jumps, mload/mstore, decoding)",
            String::new(),
            self.rest,
        );
        out
    }
}

struct Frame {
    /// Opcode waiting for its gas: (opcode, gas remaining before it, gas of children since).
    pending: Option<(u8, u64, u64)>,
    memory: usize,
}

#[derive(Default)]
struct Profiler {
    frames: Vec<Frame>,
    profile: GasProfile,
    total_memory_cost: u64,
}

fn is_precompile(address: &Address) -> bool {
    let bytes = address.as_slice();
    bytes[..19].iter().all(|&b| b == 0) && (1..=0x11).contains(&bytes[19])
}

impl<CTX: ContextTr> Inspector<CTX> for Profiler {
    fn step(&mut self, interp: &mut Interpreter, _context: &mut CTX) {
        let remaining = interp.gas.remaining();
        let opcode = interp.bytecode.opcode();
        let memory = interp.memory.size();
        if let Some(frame) = self.frames.last_mut() {
            if let Some((op, before, children)) = frame.pending.take() {
                let entry = self.profile.opcodes.entry(op).or_default();
                entry.count += 1;
                entry.gas += before.saturating_sub(remaining).saturating_sub(children);
            }
            frame.pending = Some((opcode, remaining, 0));
            frame.memory = frame.memory.max(memory);
        }
    }

    fn call(&mut self, _context: &mut CTX, inputs: &mut CallInputs) -> Option<RevmCallOutcome> {
        if !is_precompile(&inputs.bytecode_address) {
            self.profile.contract_calls += 1;
            self.frames.push(Frame {
                pending: None,
                memory: 0,
            });
        }
        None
    }

    fn call_end(&mut self, _context: &mut CTX, inputs: &CallInputs, outcome: &mut RevmCallOutcome) {
        let spent = outcome.result.gas.total_gas_spent();
        if is_precompile(&inputs.bytecode_address) {
            let entry = self
                .profile
                .precompiles
                .entry(inputs.bytecode_address.as_slice()[19])
                .or_default();
            entry.calls += 1;
            entry.gas += spent;
        } else if let Some(frame) = self.frames.pop() {
            if let Some((op, _, _)) = frame.pending {
                // The frame's last opcode (RETURN/STOP): no memory growth worth counting.
                self.profile.opcodes.entry(op).or_default().count += 1;
            }
            self.profile.max_memory_bytes = self.profile.max_memory_bytes.max(frame.memory);
            self.profile.total_memory_bytes += frame.memory;
            self.total_memory_cost += memory_cost(frame.memory);
        }
        if let Some(parent) = self.frames.last_mut() {
            if let Some((_, _, children)) = parent.pending.as_mut() {
                *children += spent;
            }
        }
    }
}

impl EvmRunner {
    /// Runs a call of `to` with `calldata` from the default caller without committing it, and
    /// reports where its gas went.
    pub fn profile_call(&mut self, to: Address, calldata: Vec<u8>) -> Result<GasProfile> {
        let calldata_bytes = calldata.len();
        let calldata_zero_bytes = calldata.iter().filter(|&&b| b == 0).count();
        let tx = TxEnv::builder()
            .caller(self.caller())
            .kind(TxKind::Call(to))
            .value(U256::ZERO)
            .data(Bytes::from(calldata))
            .gas_limit(self.gas_limit())
            .gas_price(0)
            .build_fill();
        let mut evm = self
            .context()
            .clone()
            .build_mainnet_with_inspector(Profiler::default());
        let result = evm
            .inspect_one_tx(tx)
            .map_err(|source| EvmError::Evm { source })?;
        let profiler = &evm.inspector;
        let mut profile = profiler.profile.clone();
        profile.total_memory_cost = profiler.total_memory_cost;
        profile.total = result.tx_gas_used();
        profile.success = matches!(result, ExecutionResult::Success { .. });
        profile.calldata_bytes = calldata_bytes;
        profile.calldata_zero_bytes = calldata_zero_bytes;
        Ok(profile)
    }
}
