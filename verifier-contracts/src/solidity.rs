//! Solidity verifier and VK code contracts for a verification [`Program`].
//!
//! * `Halo2Verifier.sol` comes from the template `templates/Halo2Verifier.sol`; Rust fills in
//!   the call layout, the proof and instance sizes and the VK code hashes. Its code is the same
//!   dispatcher for every circuit, so its size does not grow with the circuit.
//! * The VK is straight-line EVM code ([`crate::codegen`]) split into chunks of at most
//!   [`EIP170_LIMIT`] bytes, each deployed as its own contract and called in order by the
//!   verifier — whatever the circuit, every contract deploys under EIP-170.
//!
//! Generation is deterministic: the same key and instance layout give byte-identical Solidity
//! and VK bytecode.

use sha3::{Digest, Keccak256};

use crate::codegen::compile_chunks;
use crate::error::Result;
use crate::program::Program;

/// EIP-170: the largest runtime bytecode a contract may have.
pub const EIP170_LIMIT: usize = 24_576;

/// Name of the generated verifier contract.
pub const VERIFIER_CONTRACT: &str = "Halo2Verifier";

const TEMPLATE: &str = include_str!("../templates/Halo2Verifier.sol");

/// Generated contracts for one verifying key and instance layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedVerifier {
    /// Solidity source of [`VERIFIER_CONTRACT`]; its constructor takes the VK chunk addresses
    /// in order.
    pub solidity: String,
    /// Runtime bytecode of each VK code chunk, in call order.
    pub vk_runtimes: Vec<Vec<u8>>,
    /// The program the contracts encode.
    pub program: Program,
}

impl GeneratedVerifier {
    /// Creation (deployment) bytecode of VK chunk `i`: a 12-byte constructor that returns the
    /// runtime that follows it.
    pub fn vk_creation_code(&self, i: usize) -> Option<Vec<u8>> {
        self.vk_runtimes
            .get(i)
            .map(|runtime| creation_code(runtime))
    }

    /// Creation bytecode of every VK chunk, in constructor-argument order.
    pub fn vk_creation_codes(&self) -> Vec<Vec<u8>> {
        self.vk_runtimes.iter().map(|r| creation_code(r)).collect()
    }
}

/// `PUSH2 len DUP1 PUSH1 0x0c PUSH1 0 CODECOPY PUSH1 0 RETURN ‖ runtime`.
pub(crate) fn creation_code(runtime: &[u8]) -> Vec<u8> {
    let len = runtime.len() as u16; // ≤ EIP170_LIMIT by construction
    let [hi, lo] = len.to_be_bytes();
    let mut code = vec![
        0x61, hi, lo, 0x80, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(runtime);
    code
}

fn hex_word(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Renders the verifier and VK code contracts for `program`. `k` and `vk_digest` (the key's
/// transcript digest, big-endian) only annotate the source.
pub fn render(program: &Program, k: u32, vk_digest: &[u8; 32]) -> Result<GeneratedVerifier> {
    let chunks = compile_chunks(program)?;
    let layout = chunks.layout;
    let vk_runtimes = chunks.runtimes;
    let num_instances = program.total_instances();

    let mut declarations = String::new();
    let mut params = Vec::new();
    let mut body = String::new();
    let mut locals = String::new();
    let mut calls = String::new();
    let mut batch_calls = String::new();
    let mut batch_vk_stores = String::new();
    // verifyProofs' memory after the call image, the state and one spare word.
    let proof_padded = program.proof_len.div_ceil(32) * 32;
    let batch_out = layout.calldata_len + layout.state_len + 0x20;
    let batch_sums = batch_out + 0x80;
    let batch_vks = batch_sums + 0x80;
    let batch_scratch = batch_vks + 0x20 * vk_runtimes.len();
    let last = vk_runtimes.len().saturating_sub(1);
    for (i, runtime) in vk_runtimes.iter().enumerate() {
        let hash: [u8; 32] = Keccak256::digest(runtime).into();
        declarations.push_str(&format!(
            "    /// VK code chunk {i}: {len} bytes of code, runtime code hash fixed below.\n    \
             address internal immutable VK_{i};\n    \
             bytes32 internal constant VK_{i}_CODEHASH = {hash};\n",
            len = runtime.len(),
            hash = hex_word(&hash),
        ));
        params.push(format!("address vk{i}"));
        body.push_str(&format!(
            "        if (vk{i}.codehash != VK_{i}_CODEHASH) revert VkCodeMismatch({i});\n        \
             VK_{i} = vk{i};\n"
        ));
        locals.push_str(&format!("        address vk{i} = VK_{i};\n"));
        let input_len = if i == 0 {
            "CALLDATA_LEN"
        } else {
            "add(CALLDATA_LEN, STATE_LEN)"
        };
        let vk_at = batch_vks + 0x20 * i;
        batch_vk_stores.push_str(&format!("            mstore({vk_at:#x}, vk{i})\n"));
        if i == last {
            // One word more than verifyProof passes: the chunk returns (A, ACC), 4 words.
            batch_calls.push_str(&format!(
                "                if iszero(staticcall(gas(), mload({vk_at:#x}), 0x00, add({input_len}, 0x20), BATCH_OUT, 0x80)) {{ fail() }}\n                \
                 if iszero(eq(returndatasize(), 0x80)) {{ fail() }}\n"
            ));
        } else {
            batch_calls.push_str(&format!(
                "                if iszero(staticcall(gas(), mload({vk_at:#x}), 0x00, {input_len}, CALLDATA_LEN, STATE_LEN)) {{ fail() }}\n                \
                 if iszero(eq(returndatasize(), STATE_LEN)) {{ fail() }}\n"
            ));
        }
        if i == last {
            calls.push_str(&format!(
                "            if iszero(staticcall(gas(), vk{i}, 0x00, {input_len}, 0x00, 0x20)) {{ fail() }}\n            \
                 if iszero(eq(returndatasize(), 0x20)) {{ fail() }}\n            \
                 return(0x00, 0x20)\n"
            ));
        } else {
            calls.push_str(&format!(
                "            if iszero(staticcall(gas(), vk{i}, 0x00, {input_len}, CALLDATA_LEN, STATE_LEN)) {{ fail() }}\n            \
                 if iszero(eq(returndatasize(), STATE_LEN)) {{ fail() }}\n"
            ));
        }
    }
    let layout_text = program
        .num_instances
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");

    let [g2a, g2b] = layout.pairing_g2.unwrap_or([[[0u8; 32]; 4]; 2]);
    let mut g2_constants = String::new();
    for (name, g2) in [("G2_A", g2a), ("G2_B", g2b)] {
        for (j, word) in g2.iter().enumerate() {
            g2_constants.push_str(&format!(
                "    uint256 internal constant {name}_{j} = {};\n",
                hex_word(word)
            ));
        }
    }
    let selector = crate::abi::selector("verifyProof(bytes,uint256[])");
    let replacements: Vec<(&str, String)> = vec![
        ("{{PROOF_PADDED}}", proof_padded.to_string()),
        ("{{PROOF_STRIDE}}", (0x20 + proof_padded).to_string()),
        (
            "{{INSTANCE_STRIDE}}",
            (0x20 + 0x20 * num_instances).to_string(),
        ),
        (
            "{{VERIFY_PROOF_SELECTOR}}",
            format!("0x{}", hex::encode(selector)),
        ),
        ("{{G2_CONSTANTS}}", g2_constants.trim_end().to_owned()),
        ("{{BATCH_OUT}}", format!("{batch_out:#x}")),
        ("{{BATCH_SUMS}}", format!("{batch_sums:#x}")),
        ("{{BATCH_VKS}}", format!("{batch_vks:#x}")),
        ("{{BATCH_SCRATCH}}", format!("{batch_scratch:#x}")),
        ("{{BATCH_VK_STORES}}", batch_vk_stores.trim_end().to_owned()),
        ("{{BATCH_CHUNK_CALLS}}", batch_calls.trim_end().to_owned()),
        ("{{K}}", k.to_string()),
        ("{{VK_DIGEST}}", hex_word(vk_digest)),
        ("{{INSTANCE_LAYOUT}}", layout_text),
        ("{{NUM_CHUNKS}}", vk_runtimes.len().to_string()),
        ("{{PROOF_LEN}}", program.proof_len.to_string()),
        ("{{NUM_INSTANCES}}", num_instances.to_string()),
        ("{{CALLDATA_LEN}}", layout.calldata_len.to_string()),
        (
            "{{INSTANCES_OFFSET}}",
            format!("{:#x}", layout.instances_offset),
        ),
        ("{{STATE_LEN}}", layout.state_len.to_string()),
        ("{{VK_DECLARATIONS}}", declarations.trim_end().to_owned()),
        ("{{CONSTRUCTOR_PARAMS}}", params.join(", ")),
        ("{{CONSTRUCTOR_BODY}}", body.trim_end().to_owned()),
        ("{{VK_LOCALS}}", locals.trim_end().to_owned()),
        ("{{CHUNK_CALLS}}", calls.trim_end().to_owned()),
    ];
    let mut solidity = TEMPLATE.to_owned();
    for (placeholder, value) in &replacements {
        solidity = solidity.replace(placeholder, value);
    }
    Ok(GeneratedVerifier {
        solidity,
        vk_runtimes,
        program: program.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{Op, Word};

    /// `ops` multiplications of constants (each a fresh slot), then a pairing-free end.
    fn program_with(consts: usize, ops: usize) -> Program {
        let consts_words: Vec<Word> = (0..consts)
            .map(|i| {
                let mut w: Word = [0xabu8; 32];
                w[0] = 0x10;
                w[24..].copy_from_slice(&(i as u64).to_be_bytes());
                w
            })
            .collect();
        let ops: Vec<Op> = (0..ops)
            .map(|i| Op::Mul {
                d: (consts + i) as u16,
                a: (i % consts) as u16,
                b: ((i + 1) % consts) as u16,
            })
            .collect();
        Program {
            num_slots: consts + ops.len(),
            consts: consts_words,
            ops,
            transcript_bytes: 64,
            max_instance_len: 0,
            proof_len: 64,
            num_instances: vec![0],
            proof_items: vec![],
        }
    }

    #[test]
    fn large_programs_are_split_under_eip170() -> Result<()> {
        let program = program_with(100, 2_000); // 2,000 × ~80 bytes of code
        let generated = render(&program, 10, &[0u8; 32])?;
        assert!(generated.vk_runtimes.len() >= 3);
        for runtime in &generated.vk_runtimes {
            assert!(runtime.len() <= EIP170_LIMIT);
        }
        for i in 0..generated.vk_runtimes.len() {
            assert!(generated.solidity.contains(&format!("address vk{i}")));
            assert!(generated.solidity.contains(&format!("VK_{i}_CODEHASH")));
        }
        assert!(!generated.solidity.contains("{{"), "unfilled placeholder");
        Ok(())
    }

    #[test]
    fn creation_code_returns_the_runtime() {
        let runtime = vec![0x00, 0xaa, 0xbb];
        let code = creation_code(&runtime);
        assert_eq!(&code[..3], &[0x61, 0x00, 0x03]);
        assert_eq!(code[5] as usize, 12, "runtime offset is the header length");
        assert_eq!(&code[12..], runtime.as_slice());
    }

    #[test]
    fn rendering_is_deterministic() -> Result<()> {
        let program = program_with(10, 10);
        assert_eq!(
            render(&program, 6, &[1u8; 32])?,
            render(&program, 6, &[1u8; 32])?
        );
        Ok(())
    }
}
