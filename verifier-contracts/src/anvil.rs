//! A local anvil node (npm `@foundry-rs/anvil-linux-amd64`, pinned in `package.json`) for
//! end-to-end runs through JSON-RPC.
//!
//! [`Anvil::spawn`] installs the pinned packages with `npm ci` when the binary is missing (the
//! same lock-protected install as the compiler, see [`crate::solc`]), starts anvil on
//! `127.0.0.1` on a free port, waits until it answers `eth_chainId`, and kills it on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::providers::{Provider, ProviderBuilder};

use crate::error::{EvmError, Result};

/// The anvil binary inside `dir/node_modules`.
pub fn binary_in(dir: &Path) -> PathBuf {
    dir.join("node_modules")
        .join("@foundry-rs")
        .join("anvil-linux-amd64")
        .join("bin")
        .join("anvil")
}

/// How to start anvil.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnvilOptions {
    /// Directory holding `package.json` / `package-lock.json` (defaults to this crate's).
    pub dir: PathBuf,
    /// Chain id.
    pub chain_id: u64,
    /// How long to wait for the node to answer JSON-RPC.
    pub startup_timeout: Duration,
    /// How many ports to try (a port picked as free can be taken before anvil binds it).
    pub attempts: u32,
}

impl Default for AnvilOptions {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            chain_id: 31_337,
            startup_timeout: Duration::from_secs(20),
            attempts: 3,
        }
    }
}

/// A running anvil process bound to `127.0.0.1`; killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    port: u16,
    chain_id: u64,
}

/// Picks a port that is free right now by binding `127.0.0.1:0` and releasing it.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| EvmError::io("bind", "127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| EvmError::io("read address of", "127.0.0.1:0", e))?
        .port();
    drop(listener);
    Ok(port)
}

impl Anvil {
    /// Starts anvil with the default options.
    pub async fn spawn_default() -> Result<Self> {
        Self::spawn(&AnvilOptions::default()).await
    }

    /// Installs (if needed) and starts anvil, retrying on another port when the first one
    /// fails, and returns once it answers JSON-RPC.
    #[tracing::instrument(skip_all)]
    pub async fn spawn(options: &AnvilOptions) -> Result<Self> {
        crate::solc::ensure_node_modules(&options.dir)?;
        let binary = binary_in(&options.dir);
        let mut last = None;
        for attempt in 1..=options.attempts.max(1) {
            let port = free_port()?;
            match Self::start_on(&binary, port, options).await {
                Ok(anvil) => {
                    tracing::info!(port, attempt, "anvil is up");
                    return Ok(anvil);
                }
                Err(e) => {
                    tracing::warn!(port, attempt, error = %e, "anvil did not start");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(EvmError::AnvilStart {
            port: 0,
            problem: "no attempt made".to_owned(),
        }))
    }

    async fn start_on(binary: &Path, port: u16, options: &AnvilOptions) -> Result<Self> {
        let child = Command::new(binary)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(port.to_string())
            .arg("--chain-id")
            .arg(options.chain_id.to_string())
            .arg("--quiet")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| EvmError::io("run", binary, e))?;
        // From here on, `anvil` owns the child and kills it on every error path.
        let mut anvil = Self {
            child,
            port,
            chain_id: options.chain_id,
        };
        let url = anvil.endpoint().parse().map_err(|_| EvmError::AnvilStart {
            port,
            problem: "endpoint is not a URL".to_owned(),
        })?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(url);
        let started = Instant::now();
        loop {
            if let Some(status) = anvil
                .child
                .try_wait()
                .map_err(|e| EvmError::io("wait for", binary, e))?
            {
                let mut stderr = String::new();
                if let Some(mut pipe) = anvil.child.stderr.take() {
                    use std::io::Read as _;
                    // Best effort: the process has exited, its stderr is what is left.
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(EvmError::AnvilStart {
                    port,
                    problem: format!("exited with {status}: {}", stderr.trim()),
                });
            }
            match provider.get_chain_id().await {
                Ok(id) if id == options.chain_id => return Ok(anvil),
                Ok(id) => {
                    return Err(EvmError::AnvilStart {
                        port,
                        problem: format!("answered chain id {id}, expected {}", options.chain_id),
                    })
                }
                Err(_) if started.elapsed() < options.startup_timeout => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(EvmError::AnvilStart {
                        port,
                        problem: format!(
                            "no JSON-RPC answer within {:?}: {e}",
                            options.startup_timeout
                        ),
                    })
                }
            }
        }
    }

    /// The port anvil listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The HTTP JSON-RPC endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            tracing::warn!(port = self.port, error = %e, "could not kill anvil");
        }
        let _ = self.child.wait();
    }
}
