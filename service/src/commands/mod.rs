//! One module per CLI command; [`dispatch`] routes a parsed [`Cli`].

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{Cli, Command};

pub mod chain;
pub mod compile;
pub mod demo_rest;
pub mod evm;
pub mod keys;
pub mod local;
pub mod prove;
pub mod replay;
pub mod run;
pub mod serve;
pub mod worker;
pub mod zoo;

/// Resolve the data directory: the flag/env value, else $XDG_DATA_HOME/zkgrid, else
/// ~/.local/share/zkgrid, else ./.zkgrid.
pub fn data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("zkgrid");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/zkgrid");
    }
    PathBuf::from(".zkgrid")
}

/// Read a whole file, refusing files larger than `max` bytes, with the path in every error.
pub fn read_limited(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    if meta.len() > max {
        anyhow::bail!(
            "{} is {} bytes, larger than the {} byte limit",
            path.display(),
            meta.len(),
            max
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a proof bundle (at most 256 MiB of JSON), with the path in every error.
pub fn load_bundle(path: &Path) -> anyhow::Result<zkgrid_prover::ProofBundle> {
    let bytes = read_limited(path, 256 << 20)?;
    let text = String::from_utf8(bytes).context("proof bundle is not UTF-8")?;
    zkgrid_prover::ProofBundle::from_json(&text)
        .with_context(|| format!("reading {}", path.display()))
}

/// The instances of a bundle with one instance column (what zkgrid's models prove).
pub fn single_column(
    bundle: &zkgrid_prover::ProofBundle,
) -> anyhow::Result<&[zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr]> {
    match bundle.instances.as_slice() {
        [col] => Ok(col),
        _ => anyhow::bail!("expected a proof bundle with one instance column"),
    }
}

/// Write a file atomically (temp file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Run a parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let data = data_dir(cli.data_dir.as_deref());
    match cli.command {
        Command::Compile(a) => compile::run(&a, cli.json),
        Command::Run(a) => run::run(&a, cli.json),
        Command::Zoo(z) => zoo::run(z, cli.json, &data),
        Command::Inspect(a) => prove::inspect(&a, cli.json),
        Command::Setup(a) => prove::setup_cmd(&a, cli.json, &data),
        Command::Prove(a) => prove::prove_cmd(&a, cli.json, &data),
        Command::Verify(a) => prove::verify_cmd(&a, cli.json, &data),
        Command::Demo(a) if a.rest => demo_rest::run(&a, cli.json, &data),
        Command::Demo(a) => prove::demo(&a, cli.json, &data),
        Command::Replay(a) => replay::run(&a, cli.json, &data),
        Command::Evm(c) => evm::run(&c, cli.json, &data),
        Command::Serve(a) => serve::run(&a, &data),
        Command::Worker(a) => worker::run(&a, &data),
        Command::Keys(k) => keys::run(k, cli.json, &data),
    }
}
