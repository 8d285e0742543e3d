//! Solidity verifier and VK data contracts for a verification [`Program`].
//!
//! * `Halo2Verifier.sol` comes from the template `templates/Halo2Verifier.sol`; Rust fills in
//!   the memory layout, the proof and instance sizes and the VK code hashes. Its code is the
//!   same interpreter for every circuit, so its size does not grow with the circuit.
//! * The VK data (program + constants, [`Program::data_blob`]) is split into chunks of at most
//!   [`VK_CHUNK_DATA_LIMIT`] bytes. Each chunk is deployed as a data contract whose runtime is
//!   `0x00 ‖ chunk` (the leading STOP makes it non-executable) — at most 24,576 bytes, the
//!   EIP-170 limit, whatever the circuit.
//!
//! Generation is deterministic: the same key and instance layout give byte-identical Solidity
//! and VK bytecode.

use sha3::{Digest, Keccak256};

use crate::error::Result;
use crate::program::{Program, PROG_BASE};

/// EIP-170: the largest runtime bytecode a contract may have.
pub const EIP170_LIMIT: usize = 24_576;

/// The most data one VK chunk holds (its runtime adds one STOP byte).
pub const VK_CHUNK_DATA_LIMIT: usize = EIP170_LIMIT - 1;

/// Name of the generated verifier contract.
pub const VERIFIER_CONTRACT: &str = "Halo2Verifier";

const TEMPLATE: &str = include_str!("../templates/Halo2Verifier.sol");

/// Generated contracts for one verifying key and instance layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedVerifier {
    /// Solidity source of [`VERIFIER_CONTRACT`]; its constructor takes the VK chunk addresses
    /// in order.
    pub solidity: String,
    /// Runtime bytecode of each VK data contract (`0x00 ‖ chunk`).
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
fn creation_code(runtime: &[u8]) -> Vec<u8> {
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

/// Renders the verifier and VK data contracts for `program`. `k` and `vk_digest` (the key's
/// transcript digest, big-endian) only annotate the source.
pub fn render(program: &Program, k: u32, vk_digest: &[u8; 32]) -> Result<GeneratedVerifier> {
    let blob = program.data_blob();
    let vk_runtimes: Vec<Vec<u8>> = blob
        .chunks(VK_CHUNK_DATA_LIMIT)
        .map(|chunk| {
            let mut runtime = Vec::with_capacity(chunk.len() + 1);
            runtime.push(0x00);
            runtime.extend_from_slice(chunk);
            runtime
        })
        .collect();

    let code_len = program.code_len();
    let slot_base = 32 * program.slot_word_base() as usize;
    let tbuf = slot_base + 32 * program.num_slots;
    let iscr = tbuf + (program.transcript_bytes + 32).div_ceil(32) * 32;
    let iscr_len = 32 * program.max_instance_len;
    let proof_padded = program.proof_len.div_ceil(32) * 32;
    let num_instances = program.total_instances();
    let instances_offset = 4 + 0x40 + 0x20 + proof_padded + 0x20;
    let calldata_len = instances_offset + 32 * num_instances;

    let mut declarations = String::new();
    let mut params = Vec::new();
    let mut body = String::new();
    let mut locals = String::new();
    let mut copies = String::new();
    let mut dest = PROG_BASE;
    for (i, runtime) in vk_runtimes.iter().enumerate() {
        let hash: [u8; 32] = Keccak256::digest(runtime).into();
        declarations.push_str(&format!(
            "    /// VK data chunk {i}: {len} bytes of data, runtime code hash fixed below.\n    \
             address internal immutable VK_{i};\n    \
             bytes32 internal constant VK_{i}_CODEHASH = {hash};\n",
            len = runtime.len() - 1,
            hash = hex_word(&hash),
        ));
        params.push(format!("address vk{i}"));
        body.push_str(&format!(
            "        if (vk{i}.codehash != VK_{i}_CODEHASH) revert VkCodeMismatch({i});\n        \
             VK_{i} = vk{i};\n"
        ));
        locals.push_str(&format!("        address vk{i} = VK_{i};\n"));
        copies.push_str(&format!(
            "            extcodecopy(vk{i}, {dest:#x}, 1, {len:#x})\n",
            len = runtime.len() - 1
        ));
        dest += runtime.len() - 1;
    }
    let layout = program
        .num_instances
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");

    let replacements: [(&str, String); 19] = [
        ("{{K}}", k.to_string()),
        ("{{VK_DIGEST}}", hex_word(vk_digest)),
        ("{{INSTANCE_LAYOUT}}", layout),
        ("{{NUM_CHUNKS}}", vk_runtimes.len().to_string()),
        ("{{PROOF_LEN}}", program.proof_len.to_string()),
        ("{{NUM_INSTANCES}}", num_instances.to_string()),
        ("{{CALLDATA_LEN}}", calldata_len.to_string()),
        ("{{INSTANCES_OFFSET}}", format!("{instances_offset:#x}")),
        ("{{PROG_END}}", format!("{:#x}", PROG_BASE + code_len)),
        ("{{SLOT_BASE}}", format!("{slot_base:#x}")),
        ("{{TBUF}}", format!("{tbuf:#x}")),
        ("{{ISCR}}", format!("{iscr:#x}")),
        ("{{ISCR_W}}", format!("{:#x}", iscr + iscr_len)),
        ("{{ISCR_P}}", format!("{:#x}", iscr + 2 * iscr_len)),
        ("{{VK_DECLARATIONS}}", declarations.trim_end().to_owned()),
        ("{{CONSTRUCTOR_PARAMS}}", params.join(", ")),
        ("{{CONSTRUCTOR_BODY}}", body.trim_end().to_owned()),
        ("{{VK_LOCALS}}", locals.trim_end().to_owned()),
        ("{{VK_COPIES}}", copies.trim_end().to_owned()),
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

    fn program_with(consts: usize) -> Program {
        Program {
            consts: (0..consts)
                .map(|i| {
                    let mut w: Word = [0u8; 32];
                    w[24..].copy_from_slice(&(i as u64).to_be_bytes());
                    w
                })
                .collect(),
            ops: vec![Op::Add { d: 0, a: 1, b: 2 }],
            num_slots: consts + 1,
            transcript_bytes: 64,
            max_instance_len: 0,
            proof_len: 64,
            num_instances: vec![0],
            proof_items: vec![],
        }
    }

    #[test]
    fn large_vk_data_is_split_under_eip170() -> Result<()> {
        let program = program_with(2_000); // 64 KB of constants
        let generated = render(&program, 10, &[0u8; 32])?;
        assert!(generated.vk_runtimes.len() >= 3);
        let mut data = Vec::new();
        for runtime in &generated.vk_runtimes {
            assert!(runtime.len() <= EIP170_LIMIT);
            assert_eq!(runtime[0], 0x00, "data contracts start with STOP");
            data.extend_from_slice(&runtime[1..]);
        }
        assert_eq!(data, program.data_blob());
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
        let program = program_with(10);
        assert_eq!(
            render(&program, 6, &[1u8; 32])?,
            render(&program, 6, &[1u8; 32])?
        );
        Ok(())
    }
}
