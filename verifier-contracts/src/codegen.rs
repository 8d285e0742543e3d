//! EVM code for a verification [`Program`], split into code contracts.
//!
//! Interpreting the program costs about 230 gas per field operation (dispatch and operand
//! decoding); straight-line code costs about 30. So the program is compiled into EVM bytecode
//! — one short, fixed instruction sequence per operation, with constants as `PUSH` immediates,
//! proof values read from calldata where they are used, and computed values in registers that
//! are reused once their value is dead — and cut into *chunks* of at most [`CHUNK_LIMIT`]
//! bytes, each deployed as its own contract (so every circuit deploys under EIP-170). The one
//! exception to straight-line code is the instance evaluation, whose length grows with the
//! public instances: it is a loop (about 100 gas and no code per instance; unrolled, a
//! 795-instance model needed five chunks and ≈ 300 gas per instance).
//!
//! The verifier contract calls the chunks in order with `STATICCALL`. Each chunk receives the
//! verifier's own calldata (so proof and instance offsets are those of the ABI encoding)
//! followed by the *state* the previous chunk returned: the MSM accumulator, the transcript
//! buffer and the registers (memory `[STATE_BASE, STATE_BASE + state_len)`). A chunk restores
//! the state, runs its operations, and returns the state; the last chunk returns the verdict
//! word — or, in *batch mode* (its input is one word longer, which only the verifier's
//! `verifyProofs` passes), the pairing check's two G1 inputs `(A, acc)` for the verifier to
//! combine with the other proofs' under one pairing. A chunk reverts on any invalid input (non-canonical scalar, point off the curve,
//! failing precompile); the verifier turns that into `false`.
//!
//! Memory of a chunk: `[0x00, 0xc0)` modexp/pairing scratch, `0xc0` the base modulus `q`,
//! `0x100`/`0x120` the MSM accumulator, `[0x140, 0x1a0)` ecMul input, then the transcript
//! buffer and the registers. The transcript's length is known statically at every point of
//! the program, so absorbing is a `CALLDATACOPY`/`MSTORE` at a fixed address.

use std::collections::HashMap;

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::PrimeField;

use crate::error::{EvmError, Result};
use crate::program::{Op, Program, Word};

/// The largest chunk runtime (EIP-170).
pub const CHUNK_LIMIT: usize = 24_576;

/// Calldata position of the proof bytes in the canonical `verifyProof(bytes, uint256[])`
/// encoding (selector, two offsets, the proof length).
pub const PROOF_CALLDATA_OFFSET: usize = 4 + 0x40 + 0x20;

/// Memory address of the MSM accumulator (`x`; `y` follows); the carried state starts here.
pub const STATE_BASE: usize = 0x100;
const Q_ADDR: usize = 0xc0;
const ACC: usize = 0x100;
const MUL_IN: usize = 0x140;
const TBUF: usize = 0x1c0;

/// BN254 scalar modulus r, big-endian.
const R_WORD: Word = hex_word("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001");
/// r - 2 (the inversion exponent).
const R_MINUS_1: Word =
    hex_word("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000000");
const R_MINUS_2: Word =
    hex_word("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593efffffff");
/// BN254 base modulus q, big-endian.
const Q_WORD: Word = hex_word("30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47");

const fn hex_word(s: &str) -> Word {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

mod evm_op {
    pub const ADD: u8 = 0x01;
    pub const MOD: u8 = 0x06;
    pub const ADDMOD: u8 = 0x08;
    pub const MULMOD: u8 = 0x09;
    pub const SUB: u8 = 0x03;
    pub const LT: u8 = 0x10;
    pub const GT: u8 = 0x11;
    pub const EQ: u8 = 0x14;
    pub const ISZERO: u8 = 0x15;
    pub const AND: u8 = 0x16;
    pub const OR: u8 = 0x17;
    pub const KECCAK256: u8 = 0x20;
    pub const CALLDATALOAD: u8 = 0x35;
    pub const CALLDATACOPY: u8 = 0x37;
    pub const CALLDATASIZE: u8 = 0x36;
    pub const POP: u8 = 0x50;
    pub const MLOAD: u8 = 0x51;
    pub const MSTORE: u8 = 0x52;
    pub const MSTORE8: u8 = 0x53;
    pub const JUMPI: u8 = 0x57;
    pub const GAS: u8 = 0x5a;
    pub const JUMPDEST: u8 = 0x5b;
    pub const PUSH0: u8 = 0x5f;
    pub const PUSH2: u8 = 0x61;
    pub const DUP1: u8 = 0x80;
    pub const DUP2: u8 = 0x81;
    pub const SWAP1: u8 = 0x90;
    pub const STATICCALL: u8 = 0xfa;
    pub const RETURN: u8 = 0xf3;
    pub const REVERT: u8 = 0xfd;
}
use evm_op as o;

/// Where an operand comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Const(Word),
    /// A calldata word (a proof scalar or an instance), checked when it was read.
    Calldata(usize),
    /// A computed value (SSA id, later a register).
    Val(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PointSrc {
    Const(Word, Word),
    Calldata(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Micro {
    Arith(Arith, usize, Src, Src),
    Mac(usize, Src, Src, Src),
    Inv(usize, Src),
    CheckScalar(usize),
    CheckPoint(usize),
    AbsorbCalldata {
        tpos: usize,
        from: usize,
        len: usize,
    },
    AbsorbWord {
        tpos: usize,
        src: Src,
    },
    Squeeze {
        d: usize,
        len: usize,
        one: bool,
    },
    MsmAcc(PointSrc, Src),
    MsmAdd(PointSrc),
    Pairing(PointSrc, [Word; 4], [Word; 4]),
    /// Fails unless every instance in calldata `[from, from + 32·len)` is below `r` (the
    /// instances no [`Micro::InstanceFraction`] reads; that loop checks its own).
    CheckInstances {
        from: usize,
        len: usize,
    },
    /// [`Op::InstanceFraction`] as a loop over the instances in calldata `[from, from + 32·len)`,
    /// each checked to be below `r`.
    InstanceFraction {
        num: usize,
        den: usize,
        x: Src,
        s0: Word,
        step: Word,
        from: usize,
        len: usize,
    },
}

impl Micro {
    fn uses(&self) -> Vec<usize> {
        let v = |s: &Src| match s {
            Src::Val(i) => Some(*i),
            _ => None,
        };
        match self {
            Micro::Arith(_, _, a, b) => [v(a), v(b)].into_iter().flatten().collect(),
            Micro::Mac(_, a, b, c) => [v(a), v(b), v(c)].into_iter().flatten().collect(),
            Micro::Inv(_, a) => v(a).into_iter().collect(),
            Micro::AbsorbWord { src, .. }
            | Micro::MsmAcc(_, src)
            | Micro::InstanceFraction { x: src, .. } => v(src).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// The value defined by a single-result op.
    fn def(&self) -> Option<usize> {
        match self {
            Micro::Arith(_, d, _, _) | Micro::Mac(d, ..) | Micro::Inv(d, _) => Some(*d),
            Micro::Squeeze { d, .. } => Some(*d),
            _ => None,
        }
    }

    /// Every value the op defines.
    fn defs(&self) -> Vec<usize> {
        match self {
            Micro::InstanceFraction { num, den, .. } => vec![*num, *den],
            _ => self.def().into_iter().collect(),
        }
    }
}

/// Static layout of the calls for one program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLayout {
    /// Calldata position of the first instance.
    pub instances_offset: usize,
    /// Exact calldata length of a canonical `verifyProof` call.
    pub calldata_len: usize,
    /// Bytes of state carried from one chunk to the next.
    pub state_len: usize,
    /// The G2 points of the final pairing check `e(A, g2a) · e(acc, g2b) = 1` (big-endian
    /// words in the precompile's order), `None` for a program without one.
    pub pairing_g2: Option<[[Word; 4]; 2]>,
}

/// The compiled chunks of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunks {
    /// Runtime bytecode of each chunk, in call order.
    pub runtimes: Vec<Vec<u8>>,
    /// Call layout.
    pub layout: CallLayout,
    /// Number of registers (32-byte words) after allocation.
    pub registers: usize,
}

struct Lowering {
    micro: Vec<Micro>,
    values: usize,
}

impl Lowering {
    fn val(&mut self) -> usize {
        self.values += 1;
        self.values - 1
    }
}

fn fr_of(word: &Word) -> Option<Fr> {
    let mut le = *word;
    le.reverse();
    Option::from(Fr::from_repr(le))
}

fn lower(program: &Program, instances_offset: usize) -> Result<Lowering> {
    let nconsts = program.consts.len();
    let mut slots: HashMap<u16, Src> = HashMap::new();
    let mut points: HashMap<u16, usize> = HashMap::new();
    let mut low = Lowering {
        micro: Vec::new(),
        values: 0,
    };
    let bad = |problem: &'static str| EvmError::MalformedProgram { problem };
    let src = |slots: &HashMap<u16, Src>, s: u16| -> Result<Src> {
        if (s as usize) < nconsts {
            return Ok(Src::Const(program.consts[s as usize]));
        }
        slots
            .get(&s)
            .copied()
            .ok_or(bad("slot read before it is written"))
    };
    let point = |points: &HashMap<u16, usize>, p: u16| -> Result<PointSrc> {
        let p_usize = p as usize;
        if p_usize + 1 < nconsts {
            return Ok(PointSrc::Const(
                program.consts[p_usize],
                program.consts[p_usize + 1],
            ));
        }
        points
            .get(&p)
            .map(|&at| PointSrc::Calldata(at))
            .ok_or(bad("point slot not read from the proof"))
    };
    let g2 = |s: u16| -> Result<[Word; 4]> {
        let s = s as usize;
        if s + 3 >= nconsts {
            return Err(bad("G2 operand is not a constant"));
        }
        Ok([
            program.consts[s],
            program.consts[s + 1],
            program.consts[s + 2],
            program.consts[s + 3],
        ])
    };
    let mut cursor = PROOF_CALLDATA_OFFSET;
    let mut tlen = 0usize;
    let last = program.ops.len().saturating_sub(1);
    for (index, op) in program.ops.iter().enumerate() {
        let define = |low: &mut Lowering, slots: &mut HashMap<u16, Src>, d: u16| {
            let v = low.val();
            slots.insert(d, Src::Val(v));
            v
        };
        if op_dest(op).is_some_and(|d| (d as usize) < nconsts) {
            return Err(bad("operation writes a constant slot"));
        }
        match *op {
            Op::Add { d, a, b } | Op::Sub { d, a, b } | Op::Mul { d, a, b } => {
                let (a, b) = (src(&slots, a)?, src(&slots, b)?);
                let kind = match op {
                    Op::Add { .. } => Arith::Add,
                    Op::Sub { .. } => Arith::Sub,
                    _ => Arith::Mul,
                };
                let v = define(&mut low, &mut slots, d);
                low.micro.push(Micro::Arith(kind, v, a, b));
            }
            Op::Mac { d, a, b, c } => {
                let (a, b, c) = (src(&slots, a)?, src(&slots, b)?, src(&slots, c)?);
                let v = define(&mut low, &mut slots, d);
                low.micro.push(Micro::Mac(v, a, b, c));
            }
            Op::Inv { d, a } => {
                let a = src(&slots, a)?;
                let v = define(&mut low, &mut slots, d);
                low.micro.push(Micro::Inv(v, a));
            }
            Op::ReadScalar { d } => {
                low.micro.push(Micro::CheckScalar(cursor));
                low.micro.push(Micro::AbsorbCalldata {
                    tpos: tlen,
                    from: cursor,
                    len: 32,
                });
                slots.insert(d, Src::Calldata(cursor));
                cursor += 32;
                tlen += 32;
            }
            Op::ReadPoint { d } => {
                low.micro.push(Micro::CheckPoint(cursor));
                low.micro.push(Micro::AbsorbCalldata {
                    tpos: tlen,
                    from: cursor,
                    len: 64,
                });
                points.insert(d, cursor);
                slots.insert(d, Src::Calldata(cursor));
                slots.insert(d.wrapping_add(1), Src::Calldata(cursor + 32));
                cursor += 64;
                tlen += 64;
            }
            Op::Absorb { a } => {
                let s = src(&slots, a)?;
                low.micro.push(Micro::AbsorbWord { tpos: tlen, src: s });
                tlen += 32;
            }
            Op::AbsorbInstances => {
                let len = 32 * program.total_instances();
                if len > 0 {
                    low.micro.push(Micro::AbsorbCalldata {
                        tpos: tlen,
                        from: instances_offset,
                        len,
                    });
                }
                tlen += len;
            }
            Op::Squeeze { d } => {
                let v = define(&mut low, &mut slots, d);
                let one = tlen == 32;
                low.micro.push(Micro::Squeeze {
                    d: v,
                    len: if one { 33 } else { tlen },
                    one,
                });
                tlen = 32;
            }
            Op::InstanceFraction {
                d,
                x,
                s0,
                step,
                start,
                len,
            } => {
                let x = src(&slots, x)?;
                let constant = |s: u16| -> Result<Word> {
                    match src(&slots, s)? {
                        Src::Const(w) => fr_of(&w).map(|_| w).ok_or(bad("non-canonical constant")),
                        _ => Err(EvmError::Unsupported {
                            feature: "instance evaluation with a computed root of unity",
                        }),
                    }
                };
                let (s0, step) = (constant(s0)?, constant(step)?);
                let (start, len) = (start as usize, len as usize);
                if start + len > program.total_instances() {
                    return Err(bad("instance range"));
                }
                let num = define(&mut low, &mut slots, d);
                let den = define(&mut low, &mut slots, d.wrapping_add(1));
                low.micro.push(Micro::InstanceFraction {
                    num,
                    den,
                    x,
                    s0,
                    step,
                    from: instances_offset + 32 * start,
                    len,
                });
            }
            Op::MsmAcc { p, s } => {
                let (p, s) = (point(&points, p)?, src(&slots, s)?);
                low.micro.push(Micro::MsmAcc(p, s));
            }
            Op::MsmAdd { p } => {
                let p = point(&points, p)?;
                low.micro.push(Micro::MsmAdd(p));
            }
            Op::Pairing { a, g2a, g2b } => {
                if index != last {
                    return Err(EvmError::Unsupported {
                        feature: "operations after the pairing check",
                    });
                }
                let a = point(&points, a)?;
                low.micro.push(Micro::Pairing(a, g2(g2a)?, g2(g2b)?));
            }
        }
    }
    // Every instance must be canonical: the instance loops check what they read, and a loop
    // of checks covers the rest (instances of columns the circuit never queries).
    let mut covered = vec![false; program.total_instances()];
    for m in &low.micro {
        if let Micro::InstanceFraction { from, len, .. } = *m {
            let start = (from - instances_offset) / 32;
            covered[start..start + len].fill(true);
        }
    }
    let mut j = 0usize;
    while j < covered.len() {
        if covered[j] {
            j += 1;
            continue;
        }
        let start = j;
        while j < covered.len() && !covered[j] {
            j += 1;
        }
        low.micro.insert(
            0,
            Micro::CheckInstances {
                from: instances_offset + 32 * start,
                len: j - start,
            },
        );
    }
    // Consecutive transcript copies from consecutive calldata become one copy.
    let mut merged: Vec<Micro> = Vec::with_capacity(low.micro.len());
    let mut pending: Option<(usize, usize, usize)> = None;
    let mut checks: Vec<Micro> = Vec::new();
    for m in low.micro.drain(..) {
        match m {
            Micro::AbsorbCalldata { tpos, from, len } => match pending.as_mut() {
                Some((t, f, l)) if *t + *l == tpos && *f + *l == from => *l += len,
                _ => {
                    if let Some((tpos, from, len)) = pending.take() {
                        merged.push(Micro::AbsorbCalldata { tpos, from, len });
                    }
                    merged.append(&mut checks);
                    pending = Some((tpos, from, len));
                }
            },
            Micro::CheckScalar(_) | Micro::CheckPoint(_) if pending.is_some() => checks.push(m),
            other => {
                if let Some((tpos, from, len)) = pending.take() {
                    merged.push(Micro::AbsorbCalldata { tpos, from, len });
                }
                merged.append(&mut checks);
                merged.push(other);
            }
        }
    }
    if let Some((tpos, from, len)) = pending.take() {
        merged.push(Micro::AbsorbCalldata { tpos, from, len });
    }
    merged.append(&mut checks);
    low.micro = merged;
    Ok(low)
}

fn op_dest(op: &Op) -> Option<u16> {
    match *op {
        Op::Add { d, .. }
        | Op::Sub { d, .. }
        | Op::Mul { d, .. }
        | Op::Mac { d, .. }
        | Op::Inv { d, .. }
        | Op::ReadScalar { d }
        | Op::ReadPoint { d }
        | Op::Squeeze { d }
        | Op::InstanceFraction { d, .. } => Some(d),
        _ => None,
    }
}

/// `Σ_j inst[start+j] · w_j / (x - w_j)` as one running fraction `(num, den)`
/// (`num' = num · d_j + inst_j · w_j · den`, `den' = den · d_j` with `d_j = x - w_j`), which
/// the program inverts with its other denominators. Only the running pair is live, so a
/// circuit with many public instances does not carry thousands of registers from chunk to
/// chunk.
/// Index of the micro op that uses each value last (`usize::MAX`: never used).
fn last_uses(low: &Lowering) -> Vec<usize> {
    let mut last_use = vec![usize::MAX; low.values];
    for (i, m) in low.micro.iter().enumerate() {
        for v in m.uses() {
            last_use[v] = i;
        }
    }
    last_use
}

/// Instance steps per iteration of the instance loop.
const INSTANCE_UNROLL: usize = 4;

/// Most micro ops whose results are handed over on the stack in a row (bounds the code of one
/// unit, which cannot be split between chunks).
const MAX_FUSED_RUN: usize = 64;

/// `fused[i]`: micro op `i`'s result stays on the stack for op `i + 1` instead of going through
/// its register. That is the case when op `i + 1` is a multiply-accumulate whose accumulator is
/// that result, used nowhere else (the links of a linear combination): it saves a store and a
/// load (9 gas and 5 code bytes) per link.
fn fuse(low: &Lowering) -> Vec<bool> {
    let last_use = last_uses(low);
    let mut fused = vec![false; low.micro.len()];
    let mut run = 0usize;
    for (i, (m, slot)) in low.micro.iter().zip(fused.iter_mut()).enumerate() {
        let link = match (m.def(), low.micro.get(i + 1)) {
            (Some(d), Some(Micro::Mac(_, x, y, Src::Val(c)))) => {
                matches!(m, Micro::Arith(..) | Micro::Mac(..))
                    && *c == d
                    && *x != Src::Val(d)
                    && *y != Src::Val(d)
                    && last_use[d] == i + 1
            }
            _ => false,
        };
        if link && run + 1 < MAX_FUSED_RUN {
            *slot = true;
            run += 1;
        } else {
            run = 0;
        }
    }
    fused
}

/// Register of each value: a value's register is free again after its last use.
fn allocate(low: &Lowering) -> (Vec<usize>, usize) {
    let last_use = last_uses(low);
    let mut reg = vec![0usize; low.values];
    let mut free: Vec<usize> = Vec::new();
    let mut count = 0usize;
    for (i, m) in low.micro.iter().enumerate() {
        let mut dying: Vec<usize> = m.uses().into_iter().filter(|&v| last_use[v] == i).collect();
        dying.sort_unstable();
        dying.dedup();
        for v in dying {
            free.push(reg[v]);
        }
        let defs = m.defs();
        for &d in &defs {
            reg[d] = free.pop().unwrap_or_else(|| {
                count += 1;
                count - 1
            });
        }
        for d in defs {
            if last_use[d] == usize::MAX {
                free.push(reg[d]);
            }
        }
    }
    (reg, count)
}

/// One chunk being assembled: code plus the positions of `PUSH2 fail` immediates and of
/// `PUSH2 label` immediates (with their targets) of jumps inside the code.
#[derive(Default)]
struct Asm {
    code: Vec<u8>,
    fail_jumps: Vec<usize>,
    jumps: Vec<(usize, usize)>,
}

impl Asm {
    fn op(&mut self, op: u8) {
        self.code.push(op);
    }

    /// The shortest `PUSH` of a big-endian word.
    fn push_word(&mut self, w: &Word) {
        let skip = w.iter().take_while(|&&b| b == 0).count();
        if skip == 32 {
            self.code.push(o::PUSH0);
            return;
        }
        let n = 32 - skip;
        self.code.push(o::PUSH0 + n as u8);
        self.code.extend_from_slice(&w[skip..]);
    }

    /// `DUPn`, 1 ≤ n ≤ 16.
    fn dup(&mut self, n: u8) {
        debug_assert!((1..=16).contains(&n));
        self.code.push(o::DUP1 + n - 1);
    }

    /// `SWAPn`, 1 ≤ n ≤ 16.
    fn swap(&mut self, n: u8) {
        debug_assert!((1..=16).contains(&n));
        self.code.push(o::SWAP1 + n - 1);
    }

    fn push(&mut self, v: usize) {
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&(v as u64).to_be_bytes());
        self.push_word(&w);
    }

    /// Jumps to the chunk's failure label if the top of the stack is non-zero.
    fn jump_fail_if(&mut self) {
        self.code.push(o::PUSH2);
        self.fail_jumps.push(self.code.len());
        self.code.extend_from_slice(&[0, 0]);
        self.code.push(o::JUMPI);
    }

    /// A jump target here.
    fn label(&mut self) -> usize {
        self.code.push(o::JUMPDEST);
        self.code.len() - 1
    }

    /// Jumps to `label` if the top of the stack is non-zero.
    fn jump_if(&mut self, label: usize) {
        self.code.push(o::PUSH2);
        self.jumps.push((self.code.len(), label));
        self.code.extend_from_slice(&[0, 0]);
        self.code.push(o::JUMPI);
    }

    /// Jumps to a label bound later with [`Asm::bind`] if the top of the stack is non-zero.
    fn jump_if_forward(&mut self) -> usize {
        self.code.push(o::PUSH2);
        self.jumps.push((self.code.len(), usize::MAX));
        self.code.extend_from_slice(&[0, 0]);
        self.code.push(o::JUMPI);
        self.jumps.len() - 1
    }

    /// Places the label a [`Asm::jump_if_forward`] jumps to here.
    fn bind(&mut self, jump: usize) {
        let label = self.label();
        self.jumps[jump].1 = label;
    }

    fn append(&mut self, other: Asm) {
        let base = self.code.len();
        self.fail_jumps
            .extend(other.fail_jumps.iter().map(|p| p + base));
        self.jumps
            .extend(other.jumps.iter().map(|(p, t)| (p + base, t + base)));
        self.code.extend_from_slice(&other.code);
    }

    fn staticcall_or_fail(
        &mut self,
        precompile: usize,
        input: usize,
        len: usize,
        out: usize,
        out_len: usize,
    ) {
        self.push(out_len);
        self.push(out);
        self.push(len);
        self.push(input);
        self.push(precompile);
        self.op(o::GAS);
        self.op(o::STATICCALL);
        self.op(o::ISZERO);
        self.jump_fail_if();
    }
}

/// Copies the MSM accumulator (two words) to memory `at`.
fn acc_to(a: &mut Asm, at: usize) {
    for word in [0, 0x20] {
        a.push(ACC + word);
        a.op(o::MLOAD);
        a.push(at + word);
        a.op(o::MSTORE);
    }
}

struct Emitter<'a> {
    reg: &'a [usize],
    reg_base: usize,
    /// Input sizes of the final chunk that mean "batch mode" (one word more than a
    /// `verifyProof` call passes, as the first or a later chunk).
    batch_input_lens: [usize; 2],
}

impl Emitter<'_> {
    fn addr(&self, v: usize) -> usize {
        self.reg_base + 32 * self.reg[v]
    }

    /// Pushes an operand (stack: `[r] → [r, value]` above whatever is there).
    fn load(&self, a: &mut Asm, s: &Src) {
        match s {
            Src::Const(w) => a.push_word(w),
            Src::Calldata(at) => {
                a.push(*at);
                a.op(o::CALLDATALOAD);
            }
            Src::Val(v) => {
                a.push(self.addr(*v));
                a.op(o::MLOAD);
            }
        }
    }

    fn store(&self, a: &mut Asm, v: usize) {
        a.push(self.addr(v));
        a.op(o::MSTORE);
    }

    fn point_to(&self, a: &mut Asm, p: &PointSrc, at: usize) {
        match p {
            PointSrc::Const(x, y) => {
                a.push_word(x);
                a.push(at);
                a.op(o::MSTORE);
                a.push_word(y);
                a.push(at + 32);
                a.op(o::MSTORE);
            }
            PointSrc::Calldata(from) => {
                a.push(64);
                a.push(*from);
                a.push(at);
                a.op(o::CALLDATACOPY);
            }
        }
    }

    /// [`Op::InstanceFraction`] over the instances at calldata `[from, from + 32·len)`, as a
    /// loop unrolled [`INSTANCE_UNROLL`] times (the remainder runs first, straight), with the
    /// whole state on the stack: `[r, num, den, z, ptr]`. `z - 1` and `num` stay below `2r`
    /// between steps (a plain `ADD`; `MULMOD` takes any word), and `num` is reduced at the end.
    #[allow(clippy::too_many_arguments)]
    fn instance_fraction(
        &self,
        a: &mut Asm,
        (num, den): (usize, usize),
        x: &Src,
        s0: &Word,
        step: &Word,
        from: usize,
        len: usize,
    ) {
        if len == 0 {
            a.op(o::PUSH0);
            self.store(a, num);
            a.push(1);
            self.store(a, den);
            return;
        }
        a.op(o::PUSH0);
        a.push(1);
        a.dup(3);
        a.push_word(s0);
        self.load(a, x);
        a.op(o::MULMOD);
        a.push(from);
        let body = |a: &mut Asm| {
            // d = z + (r - 1)                    [r, num, den, z, ptr, r, d]
            a.dup(5);
            a.push_word(&R_MINUS_1);
            a.dup(4);
            a.op(o::ADD);
            // t = inst · den                     [.., r, d, t]
            a.dup(2);
            a.dup(6);
            a.dup(5);
            a.op(o::CALLDATALOAD);
            // inst < r, or fail
            a.dup(1);
            a.dup(4);
            a.op(o::GT);
            a.op(o::ISZERO);
            a.jump_fail_if();
            a.op(o::MULMOD);
            // num' = num · d + t                 [r, num', den, z, ptr, r, d]
            a.dup(3);
            a.dup(3);
            a.dup(9);
            a.op(o::MULMOD);
            a.op(o::ADD);
            a.swap(6);
            a.op(o::POP);
            // den' = den · d                     [r, num', den', z, ptr]
            a.dup(5);
            a.op(o::MULMOD);
            a.swap(3);
            a.op(o::POP);
            // z' = z · step, ptr' = ptr + 32     [r, num', den', z', ptr']
            a.dup(5);
            a.push_word(step);
            a.dup(4);
            a.op(o::MULMOD);
            a.swap(2);
            a.op(o::POP);
            a.push(0x20);
            a.op(o::ADD);
        };
        for _ in 0..len % INSTANCE_UNROLL {
            body(a);
        }
        if len >= INSTANCE_UNROLL {
            let top = a.label();
            for _ in 0..INSTANCE_UNROLL {
                body(a);
            }
            a.dup(1);
            a.push(from + 32 * len);
            a.op(o::SUB);
            a.jump_if(top);
        }
        // [r, num, den, z, ptr] → den, num mod r into their registers.
        a.op(o::POP);
        a.op(o::POP);
        self.store(a, den);
        a.op(o::DUP2);
        a.op(o::SWAP1);
        a.op(o::MOD);
        self.store(a, num);
    }

    /// Code of one micro operation; the stack holds `r` (and nothing else) before and after,
    /// except for the stack hand-over of [`fuse`]: with `stacked_input` the op is a
    /// multiply-accumulate whose accumulator is on the stack (`[r, c]` before); with
    /// `keep_output` its result stays there (`[r, value]` after) instead of in its register.
    fn emit_with(&self, m: &Micro, stacked_input: bool, keep_output: bool) -> Asm {
        let mut a = Asm::default();
        match m {
            Micro::Arith(kind, d, x, y) => {
                a.op(o::DUP1);
                match kind {
                    Arith::Add | Arith::Mul => {
                        self.load(&mut a, y);
                        self.load(&mut a, x);
                        a.op(if *kind == Arith::Add {
                            o::ADDMOD
                        } else {
                            o::MULMOD
                        });
                    }
                    Arith::Sub => {
                        // x + (r - y) mod r
                        self.load(&mut a, y);
                        a.op(o::DUP2);
                        a.op(o::SUB);
                        self.load(&mut a, x);
                        a.op(o::ADDMOD);
                    }
                }
                if !keep_output {
                    self.store(&mut a, *d);
                }
            }
            Micro::Mac(d, x, y, c) => {
                if stacked_input {
                    // [r, c] → [r, r, c]
                    a.op(o::DUP2);
                    a.op(o::SWAP1);
                } else {
                    a.op(o::DUP1);
                    self.load(&mut a, c);
                }
                a.op(o::DUP2);
                self.load(&mut a, y);
                self.load(&mut a, x);
                a.op(o::MULMOD);
                a.op(o::ADDMOD);
                if !keep_output {
                    self.store(&mut a, *d);
                }
            }
            Micro::Inv(d, x) => {
                for at in [0x00, 0x20, 0x40] {
                    a.push(0x20);
                    a.push(at);
                    a.op(o::MSTORE);
                }
                self.load(&mut a, x);
                a.push(0x60);
                a.op(o::MSTORE);
                a.push_word(&R_MINUS_2);
                a.push(0x80);
                a.op(o::MSTORE);
                a.op(o::DUP1);
                a.push(0xa0);
                a.op(o::MSTORE);
                a.staticcall_or_fail(0x05, 0x00, 0xc0, 0x00, 0x20);
                a.op(o::PUSH0);
                a.op(o::MLOAD);
                self.store(&mut a, *d);
            }
            Micro::CheckScalar(at) => {
                // iszero(lt(v, r)) → fail
                a.op(o::DUP1);
                a.push(*at);
                a.op(o::CALLDATALOAD);
                a.op(o::LT);
                a.op(o::ISZERO);
                a.jump_fail_if();
            }
            Micro::CheckPoint(at) => {
                // x → 0x00, y → 0x20
                a.push(*at);
                a.op(o::CALLDATALOAD);
                a.op(o::PUSH0);
                a.op(o::MSTORE);
                a.push(*at + 32);
                a.op(o::CALLDATALOAD);
                a.push(0x20);
                a.op(o::MSTORE);
                let mload = |a: &mut Asm, addr: usize| {
                    a.push(addr);
                    a.op(o::MLOAD);
                };
                // iszero(and(lt(y, q), lt(x, q))) → fail
                mload(&mut a, Q_ADDR);
                mload(&mut a, 0x20);
                a.op(o::LT);
                mload(&mut a, Q_ADDR);
                mload(&mut a, 0x00);
                a.op(o::LT);
                a.op(o::AND);
                a.op(o::ISZERO);
                a.jump_fail_if();
                // iszero(or(iszero(or(x, y)), eq(y², x³ + 3))) → fail
                mload(&mut a, 0x20);
                mload(&mut a, 0x00);
                a.op(o::OR);
                a.op(o::ISZERO);
                mload(&mut a, Q_ADDR);
                mload(&mut a, 0x20);
                a.op(o::DUP1);
                a.op(o::MULMOD);
                mload(&mut a, Q_ADDR);
                a.push(3);
                mload(&mut a, Q_ADDR);
                mload(&mut a, Q_ADDR);
                mload(&mut a, 0x00);
                a.op(o::DUP1);
                a.op(o::MULMOD);
                mload(&mut a, 0x00);
                a.op(o::MULMOD);
                a.op(o::ADDMOD);
                a.op(o::EQ);
                a.op(o::OR);
                a.op(o::ISZERO);
                a.jump_fail_if();
            }
            Micro::AbsorbCalldata { tpos, from, len } => {
                a.push(*len);
                a.push(*from);
                a.push(TBUF + tpos);
                a.op(o::CALLDATACOPY);
            }
            Micro::AbsorbWord { tpos, src } => {
                self.load(&mut a, src);
                a.push(TBUF + tpos);
                a.op(o::MSTORE);
            }
            Micro::Squeeze { d, len, one } => {
                if *one {
                    a.push(1);
                    a.push(TBUF + 32);
                    a.op(o::MSTORE8);
                }
                a.push(*len);
                a.push(TBUF);
                a.op(o::KECCAK256);
                a.op(o::DUP1);
                a.push(TBUF);
                a.op(o::MSTORE);
                a.op(o::DUP2);
                a.op(o::SWAP1);
                a.op(o::MOD);
                self.store(&mut a, *d);
            }
            Micro::MsmAcc(p, s) => {
                self.point_to(&mut a, p, MUL_IN);
                self.load(&mut a, s);
                a.push(MUL_IN + 0x40);
                a.op(o::MSTORE);
                a.staticcall_or_fail(0x07, MUL_IN, 0x60, MUL_IN, 0x40);
                a.staticcall_or_fail(0x06, ACC, 0x80, ACC, 0x40);
            }
            Micro::MsmAdd(p) => {
                self.point_to(&mut a, p, MUL_IN);
                a.staticcall_or_fail(0x06, ACC, 0x80, ACC, 0x40);
            }
            Micro::InstanceFraction {
                num,
                den,
                x,
                s0,
                step,
                from,
                len,
            } => self.instance_fraction(&mut a, (*num, *den), x, s0, step, *from, *len),
            Micro::CheckInstances { from, len } => {
                // [r, ptr]: fail unless calldataload(ptr) < r, for every ptr in the range
                a.push(*from);
                let top = a.label();
                a.dup(2);
                a.dup(2);
                a.op(o::CALLDATALOAD);
                a.op(o::LT);
                a.op(o::ISZERO);
                a.jump_fail_if();
                a.push(0x20);
                a.op(o::ADD);
                a.dup(1);
                a.push(from + 32 * len);
                a.op(o::SUB);
                a.jump_if(top);
                a.op(o::POP);
            }
            Micro::Pairing(p, g2a, g2b) => {
                // Batch mode (the verifier's `verifyProofs` passes one word more than a
                // `verifyProof` call): return the pairing's G1 inputs (P, acc) for the
                // verifier to combine with the other proofs' instead of pairing here.
                let [single_chunk, later_chunk] = self.batch_input_lens;
                a.op(o::CALLDATASIZE);
                a.push(single_chunk);
                a.op(o::EQ);
                a.op(o::CALLDATASIZE);
                a.push(later_chunk);
                a.op(o::EQ);
                a.op(o::OR);
                let batch = a.jump_if_forward();
                // e(P, G2a) · e(acc, G2b) == 1; the accumulator moves first.
                acc_to(&mut a, 0xc0);
                self.point_to(&mut a, p, 0x00);
                for (i, w) in g2a.iter().enumerate() {
                    a.push_word(w);
                    a.push(0x40 + 32 * i);
                    a.op(o::MSTORE);
                }
                for (i, w) in g2b.iter().enumerate() {
                    a.push_word(w);
                    a.push(0x100 + 32 * i);
                    a.op(o::MSTORE);
                }
                a.staticcall_or_fail(0x08, 0x00, 0x180, 0x00, 0x20);
                // verdict = (result == 1)
                a.push(1);
                a.op(o::PUSH0);
                a.op(o::MLOAD);
                a.op(o::EQ);
                a.op(o::PUSH0);
                a.op(o::MSTORE);
                a.push(0x20);
                a.op(o::PUSH0);
                a.op(o::RETURN);
                a.bind(batch);
                self.point_to(&mut a, p, 0x00);
                acc_to(&mut a, 0x40);
                a.push(0x80);
                a.op(o::PUSH0);
                a.op(o::RETURN);
            }
        }
        a
    }
}

/// Compiles `program` into chunk runtimes (each at most [`CHUNK_LIMIT`] bytes).
pub fn compile_chunks(program: &Program) -> Result<Chunks> {
    let proof_padded = program.proof_len.div_ceil(32) * 32;
    let instances_offset = PROOF_CALLDATA_OFFSET + proof_padded + 0x20;
    let calldata_len = instances_offset + 32 * program.total_instances();
    let low = lower(program, instances_offset)?;
    let (reg, registers) = allocate(&low);
    let tbuf_len = (program.transcript_bytes + 32).div_ceil(32) * 32 + 32;
    let reg_base = TBUF + tbuf_len;
    let state_len = reg_base + 32 * registers - STATE_BASE;
    let pairing_g2 = low.micro.iter().find_map(|m| match m {
        Micro::Pairing(_, g2a, g2b) => Some([*g2a, *g2b]),
        _ => None,
    });
    let layout = CallLayout {
        instances_offset,
        calldata_len,
        state_len,
        pairing_g2,
    };
    let emitter = Emitter {
        reg: &reg,
        reg_base,
        batch_input_lens: [calldata_len + 32, calldata_len + state_len + 32],
    };

    let prologue = |first: bool| -> Asm {
        let mut a = Asm::default();
        if !first {
            a.push(state_len);
            a.push(calldata_len);
            a.push(STATE_BASE);
            a.op(o::CALLDATACOPY);
        }
        a.push_word(&Q_WORD);
        a.push(Q_ADDR);
        a.op(o::MSTORE);
        a.push_word(&R_WORD);
        a
    };
    let epilogue = || -> Asm {
        let mut a = Asm::default();
        a.push(state_len);
        a.push(STATE_BASE);
        a.op(o::RETURN);
        a
    };
    let fail_len = 4; // JUMPDEST PUSH0 PUSH0 REVERT
    let epilogue_len = epilogue().code.len();
    let finish = |mut asm: Asm, final_chunk: bool| -> Result<Vec<u8>> {
        if final_chunk {
            // A program without a pairing check accepts nothing.
            asm.op(o::PUSH0);
            asm.op(o::PUSH0);
            asm.op(o::MSTORE);
            asm.push(0x20);
            asm.op(o::PUSH0);
            asm.op(o::RETURN);
        } else {
            asm.append(epilogue());
        }
        let fail = asm.code.len();
        asm.op(o::JUMPDEST);
        asm.op(o::PUSH0);
        asm.op(o::PUSH0);
        asm.op(o::REVERT);
        let [hi, lo] = u16::try_from(fail)
            .map_err(|_| EvmError::ProgramTooLarge {
                what: "chunk code bytes",
                value: fail,
                max: u16::MAX as usize,
            })?
            .to_be_bytes();
        for &p in &asm.fail_jumps {
            asm.code[p] = hi;
            asm.code[p + 1] = lo;
        }
        for &(p, target) in &asm.jumps {
            let [hi, lo] = u16::try_from(target)
                .map_err(|_| EvmError::ProgramTooLarge {
                    what: "chunk code bytes",
                    value: target,
                    max: u16::MAX as usize,
                })?
                .to_be_bytes();
            asm.code[p] = hi;
            asm.code[p + 1] = lo;
        }
        if asm.code.len() > CHUNK_LIMIT {
            return Err(EvmError::ProgramTooLarge {
                what: "chunk code bytes",
                value: asm.code.len(),
                max: CHUNK_LIMIT,
            });
        }
        Ok(asm.code)
    };

    let fused = fuse(&low);
    let mut runtimes = Vec::new();
    let mut current = prologue(true);
    let mut ops_in_chunk = 0usize;
    let mut i = 0usize;
    while i < low.micro.len() {
        // One unit: ops handing their results over on the stack, and the op that stores the
        // last one; a unit never spans two chunks.
        let mut code = Asm::default();
        let start = i;
        loop {
            let keep = fused[i];
            code.append(emitter.emit_with(&low.micro[i], i > start, keep));
            i += 1;
            if !keep {
                break;
            }
        }
        if ops_in_chunk > 0
            && current.code.len() + code.code.len() + epilogue_len.max(8) + fail_len > CHUNK_LIMIT
        {
            runtimes.push(finish(
                std::mem::replace(&mut current, prologue(false)),
                false,
            )?);
            ops_in_chunk = 0;
        }
        current.append(code);
        ops_in_chunk += 1;
    }
    runtimes.push(finish(current, true)?);
    tracing::debug!(
        chunks = runtimes.len(),
        registers,
        micro_ops = low.micro.len(),
        "compiled verifier chunks"
    );
    Ok(Chunks {
        runtimes,
        layout,
        registers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::fr_word;
    use halo2_proofs::halo2curves::ff::Field;

    #[test]
    fn constants_match_the_fields() {
        let minus_one = -Fr::ONE;
        assert_eq!(fr_of(&fr_word(&minus_one)), Some(minus_one));
        assert_eq!(fr_word(&(minus_one - Fr::ONE)), R_MINUS_2);
        assert_eq!(fr_of(&R_WORD), None, "r is not canonical");
        let q_minus_one = crate::program::fq_word(&-halo2_proofs::halo2curves::bn256::Fq::ONE);
        assert_eq!(q_minus_one[..31], Q_WORD[..31]);
        assert_eq!(q_minus_one[31] + 1, Q_WORD[31]);
    }

    #[test]
    fn registers_are_reused_after_the_last_use() {
        let low = Lowering {
            micro: vec![
                Micro::Squeeze {
                    d: 0,
                    len: 33,
                    one: true,
                },
                Micro::Arith(Arith::Mul, 1, Src::Val(0), Src::Val(0)),
                Micro::Arith(Arith::Mul, 2, Src::Val(1), Src::Val(1)),
                Micro::Arith(Arith::Add, 3, Src::Val(2), Src::Const([0u8; 32])),
                Micro::MsmAcc(PointSrc::Calldata(0x64), Src::Val(3)),
            ],
            values: 4,
        };
        let (reg, count) = allocate(&low);
        assert_eq!(count, 1, "{reg:?}");
    }

    #[test]
    fn accumulators_used_once_stay_on_the_stack() {
        let k = Src::Const([7u8; 32]);
        let x = Src::Calldata(0x44);
        // v0 = x·k; v1 = x·k + v0; v2 = x·v1 + v1 (v1 used twice); v3 = x·k + v2; then v3 is
        // absorbed.
        let low = Lowering {
            micro: vec![
                Micro::Arith(Arith::Mul, 0, x, k),
                Micro::Mac(1, x, k, Src::Val(0)),
                Micro::Mac(2, x, Src::Val(1), Src::Val(1)),
                Micro::Mac(3, x, k, Src::Val(2)),
                Micro::AbsorbWord {
                    tpos: 0,
                    src: Src::Val(3),
                },
            ],
            values: 4,
        };
        assert_eq!(fuse(&low), vec![true, false, true, false, false]);
        // A fused pair is shorter than the same ops through registers.
        let (reg, _) = allocate(&low);
        let e = Emitter {
            reg: &reg,
            reg_base: 0x400,
            batch_input_lens: [0, 0],
        };
        let plain: usize = low.micro[..2]
            .iter()
            .map(|m| e.emit_with(m, false, false).code.len())
            .sum();
        let fused = e.emit_with(&low.micro[0], false, true).code.len()
            + e.emit_with(&low.micro[1], true, false).code.len();
        assert!(fused + 5 <= plain, "fused {fused} bytes, plain {plain}");
    }

    /// The instance loop in revm against the fraction computed directly, for lengths that
    /// exercise the straight remainder, the loop and both, with instances that are 0, small,
    /// negative and random, and a zero denominator.
    #[test]
    fn instance_loop_matches_the_fraction() -> anyhow::Result<()> {
        use rand::{rngs::StdRng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(7);
        let omega = Fr::ROOT_OF_UNITY;
        let step = omega.invert().unwrap();
        let s0 = omega.square();
        for len in [0usize, 1, 3, 4, 5, 8, 9, 14] {
            let x = Fr::random(&mut rng);
            let instances: Vec<Fr> = (0..len)
                .map(|j| match j % 4 {
                    0 => Fr::ZERO,
                    1 => Fr::from(j as u64),
                    2 => -Fr::from(255),
                    _ => Fr::random(&mut rng),
                })
                .collect();
            let words: Vec<Word> = instances.iter().map(fr_word).collect();
            let (num, den) = evm_fraction(x, s0, step, &words)?
                .ok_or_else(|| anyhow::anyhow!("len {len}: the loop failed"))?;
            let (mut want_num, mut want_den, mut z) = (Fr::ZERO, Fr::ONE, x * s0);
            let mut sum = Fr::ZERO;
            for &inst in &instances {
                want_num = want_num * (z - Fr::ONE) + inst * want_den;
                want_den *= z - Fr::ONE;
                sum += inst * (z - Fr::ONE).invert().unwrap();
                z *= step;
            }
            assert_eq!((num, den), (want_num, want_den), "len {len}");
            assert_eq!(num * den.invert().unwrap_or(Fr::ZERO), sum, "len {len}");
        }
        // x = ω^(j - rotation) for the third instance: the denominator is zero.
        let x = s0.invert().unwrap() * omega.pow_vartime([2u64]);
        let ones = [fr_word(&Fr::ONE); 6];
        let (_, den) = evm_fraction(x, s0, step, &ones)?.expect("canonical instances");
        assert_eq!(den, Fr::ZERO);
        // Non-canonical instances (r, r + 1, 2^256 - 1) fail wherever they are: in the
        // straight remainder (index 1 of 6) or in the loop (index 4).
        let x = Fr::random(&mut rng);
        let mut r_plus_one = R_WORD;
        r_plus_one[31] += 1;
        for bad in [R_WORD, r_plus_one, [0xff; 32]] {
            for at in [1usize, 4] {
                let mut words = ones;
                words[at] = bad;
                assert_eq!(evm_fraction(x, s0, step, &words)?, None, "instance {at}");
            }
        }
        // r - 1 is canonical.
        let mut words = ones;
        words[4] = fr_word(&-Fr::ONE);
        assert!(evm_fraction(x, s0, step, &words)?.is_some());
        Ok(())
    }

    /// Instances no instance loop reads get a loop of range checks of their own.
    #[test]
    fn unread_instances_are_checked() -> anyhow::Result<()> {
        let w = |v: u64| fr_word(&Fr::from(v));
        // Columns of 3 and 2 instances; only the second is evaluated.
        let program = Program {
            consts: vec![w(5), w(7), w(3)],
            ops: vec![Op::InstanceFraction {
                d: 3,
                x: 0,
                s0: 1,
                step: 2,
                start: 3,
                len: 2,
            }],
            num_slots: 5,
            transcript_bytes: 32,
            max_instance_len: 3,
            proof_len: 0,
            num_instances: vec![3, 2],
            proof_items: vec![],
        };
        let low = lower(&program, 0x100)?;
        let checks: Vec<&Micro> = low
            .micro
            .iter()
            .filter(|m| matches!(m, Micro::CheckInstances { .. }))
            .collect();
        assert_eq!(
            checks,
            [&Micro::CheckInstances {
                from: 0x100,
                len: 3
            }]
        );

        let check = Micro::CheckInstances { from: 0, len: 3 };
        let words = [w(1), fr_word(&-Fr::ONE), w(0)];
        assert!(run_micro(&check, words.concat())?.is_some());
        for at in 0..3 {
            let mut bad = words;
            bad[at] = R_WORD;
            assert_eq!(run_micro(&check, bad.concat())?, None, "instance {at}");
        }
        Ok(())
    }

    /// Runs one micro op (values 0 and 1 in the first two registers at 0x400) in revm on
    /// `calldata`; the two registers after it, or `None` if the code failed.
    fn run_micro(micro: &Micro, calldata: Vec<u8>) -> anyhow::Result<Option<Vec<u8>>> {
        let reg = [0usize, 1];
        let e = Emitter {
            reg: &reg,
            reg_base: 0x400,
            batch_input_lens: [0, 0],
        };
        let mut a = Asm::default();
        a.push_word(&R_WORD);
        a.append(e.emit_with(micro, false, false));
        a.push(0x40);
        a.push(0x400);
        a.op(o::RETURN);
        let fail = a.label();
        a.op(o::PUSH0);
        a.op(o::PUSH0);
        a.op(o::REVERT);
        for &p in &a.fail_jumps {
            a.code[p..p + 2].copy_from_slice(&(fail as u16).to_be_bytes());
        }
        for &(p, target) in &a.jumps {
            a.code[p..p + 2].copy_from_slice(&(target as u16).to_be_bytes());
        }
        let mut evm = crate::evm::EvmRunner::new(true);
        let deployed = evm.deploy("micro op", crate::solidity::creation_code(&a.code))?;
        let out = evm.call(deployed.address, calldata)?;
        Ok(out.success.then_some(out.output))
    }

    /// `(num, den)` of the instance loop run in revm on `x` and the instance words; `None`
    /// if the code failed.
    fn evm_fraction(
        x: Fr,
        s0: Fr,
        step: Fr,
        instances: &[Word],
    ) -> anyhow::Result<Option<(Fr, Fr)>> {
        let micro = Micro::InstanceFraction {
            num: 0,
            den: 1,
            x: Src::Calldata(0),
            s0: fr_word(&s0),
            step: fr_word(&step),
            from: 32,
            len: instances.len(),
        };
        let mut calldata = fr_word(&x).to_vec();
        for w in instances {
            calldata.extend_from_slice(w);
        }
        let Some(output) = run_micro(&micro, calldata)? else {
            return Ok(None);
        };
        anyhow::ensure!(output.len() == 64, "output of {} bytes", output.len());
        let word = |i: usize| -> anyhow::Result<Fr> {
            let w: Word = output[32 * i..32 * i + 32].try_into()?;
            fr_of(&w).ok_or_else(|| anyhow::anyhow!("non-canonical output {i}"))
        };
        Ok(Some((word(0)?, word(1)?)))
    }
}
