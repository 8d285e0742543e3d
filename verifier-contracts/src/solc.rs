//! Solidity compilation with the pinned solc-js (npm `solc`, see `package.json`) through the
//! standard-JSON interface, driven by `scripts/solc-standard-json.js`.
//!
//! [`Solc::ensure_installed`] runs `npm ci` into the crate's `node_modules/` when the compiler
//! (or another package pinned in `package.json`, such as anvil) is missing (npm's cache goes to `.npm-cache/` in the same directory; both are git-ignored).
//! No compiler is downloaded at run time: the `solc` package ships the compiler.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};

use crate::error::{EvmError, Result};

/// Bytecode of one compiled contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledContract {
    /// Creation (deployment) bytecode, without constructor arguments.
    pub creation: Vec<u8>,
    /// Runtime bytecode (immutables not yet filled in).
    pub runtime: Vec<u8>,
    /// The contract's ABI (JSON array of functions, events and errors).
    pub abi: Value,
}

/// Compiler settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SolcSettings {
    /// Enable the optimizer (with `runs`).
    pub optimize: bool,
    /// Optimizer runs.
    pub runs: u32,
    /// Compile through the Yul IR pipeline (`viaIR`).
    pub via_ir: bool,
}

impl Default for SolcSettings {
    fn default() -> Self {
        Self {
            optimize: true,
            runs: 1_000_000,
            via_ir: false,
        }
    }
}

/// The pinned solc-js in a directory holding `package.json`, `package-lock.json` and
/// `scripts/solc-standard-json.js`.
#[derive(Clone, Debug)]
pub struct Solc {
    dir: PathBuf,
}

fn install_lock() -> &'static Mutex<()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(()))
}

impl Solc {
    /// The compiler pinned by this crate (its source directory).
    pub fn pinned() -> Self {
        Self::in_dir(env!("CARGO_MANIFEST_DIR"))
    }

    /// A compiler pinned in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn script(&self) -> PathBuf {
        self.dir.join("scripts").join("solc-standard-json.js")
    }

    /// Installs the pinned compiler with `npm ci` unless it is already present.
    pub fn ensure_installed(&self) -> Result<()> {
        ensure_node_modules(&self.dir)
    }

    fn run_node(&self, args: &[&str], stdin: &[u8]) -> Result<Vec<u8>> {
        self.ensure_installed()?;
        let mut child = Command::new("node")
            .arg(self.script())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| EvmError::io("run", "node", e))?;
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin)
                .map_err(|e| EvmError::io("write to", "node", e))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| EvmError::io("wait for", "node", e))?;
        if !output.status.success() {
            return Err(tool_failed("node (solc-js)", &output));
        }
        Ok(output.stdout)
    }

    /// The compiler version string.
    pub fn version(&self) -> Result<String> {
        let out = self.run_node(&["--version"], b"")?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// Compiles `source` and returns contract `contract`.
    pub fn compile(
        &self,
        source: &str,
        contract: &str,
        settings: SolcSettings,
    ) -> Result<CompiledContract> {
        let input = json!({
            "language": "Solidity",
            "sources": { "Contract.sol": { "content": source } },
            "settings": {
                "optimizer": { "enabled": settings.optimize, "runs": settings.runs },
                "viaIR": settings.via_ir,
                "outputSelection": {
                    "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] }
                }
            }
        });
        let out = self.run_node(&[], input.to_string().as_bytes())?;
        let output: Value = serde_json::from_slice(&out)?;
        let errors: Vec<String> = output["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter(|e| e["severity"] == "error")
                    .map(|e| {
                        e["formattedMessage"]
                            .as_str()
                            .or(e["message"].as_str())
                            .unwrap_or("(no message)")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !errors.is_empty() {
            return Err(EvmError::SolcErrors {
                messages: errors.join("\n"),
            });
        }
        let contract_output = &output["contracts"]["Contract.sol"][contract];
        let evm = &contract_output["evm"];
        let object = |v: &Value, what: &str| -> Result<Vec<u8>> {
            let hex = v["object"].as_str().ok_or_else(|| EvmError::SolcOutput {
                problem: format!("no {what} for contract {contract}"),
            })?;
            Ok(hex::decode(hex)?)
        };
        Ok(CompiledContract {
            creation: object(&evm["bytecode"], "bytecode")?,
            runtime: object(&evm["deployedBytecode"], "deployed bytecode")?,
            abi: contract_output["abi"].clone(),
        })
    }
}

/// Files that `npm ci` in `dir` must produce: one per package pinned in `package.json`.
pub(crate) fn pinned_files(dir: &Path) -> [PathBuf; 2] {
    let modules = dir.join("node_modules");
    [
        modules.join("solc").join("soljson.js"),
        crate::anvil::binary_in(dir),
    ]
}

/// Runs `npm ci` in `dir` (the lock-protected install of every pinned package) unless all
/// pinned packages are already present. Serialized within the process.
pub(crate) fn ensure_node_modules(dir: &Path) -> Result<()> {
    let _guard = install_lock()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let required = pinned_files(dir);
    if required.iter().all(|f| f.is_file()) {
        return Ok(());
    }
    tracing::info!(dir = %dir.display(), "installing pinned npm packages (solc-js, anvil) with npm ci");
    let cache = dir.join(".npm-cache");
    let output = Command::new("npm")
        .arg("ci")
        .arg("--prefix")
        .arg(dir)
        .arg("--no-audit")
        .arg("--no-fund")
        .arg("--cache")
        .arg(&cache)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EvmError::io("run", "npm", e))?;
    if !output.status.success() {
        return Err(tool_failed("npm ci", &output));
    }
    for file in required {
        if !file.is_file() {
            return Err(EvmError::io(
                "find",
                file,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
    }
    Ok(())
}

pub(crate) fn tool_failed(tool: &'static str, output: &std::process::Output) -> EvmError {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .chars()
        .rev()
        .take(2000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    EvmError::ToolFailed {
        tool,
        status: output.status.to_string(),
        stderr: tail,
    }
}
