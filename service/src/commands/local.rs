//! An in-process zkgrid service on a loopback port ([`LocalService`]) and a small HTTP client for
//! its API ([`RestClient`]): what `zkgrid demo --rest` and the service load tests talk to, over a
//! real socket, exactly as a remote user would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use zkgrid_prover::model::SrsChoice;

use crate::engine::Engine;
use crate::ids::{hash_api_key, new_api_key};
use crate::state::{AppState, ServiceConfig};
use crate::worker::{WorkerConfig, Workers};

/// The service (API + in-process workers) on `127.0.0.1:<random port>`, on the embedded
/// SQLite store. [`LocalService::stop`] lets running jobs finish and closes the listener.
#[derive(Debug)]
pub struct LocalService {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The shared state (store, engine, config).
    pub state: AppState,
    /// The SQLite file.
    pub db_path: PathBuf,
    workers: Workers,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LocalService {
    /// Starts the service: SQLite `zkgrid.db` under `db_dir`, SRS and key caches under `data`
    /// (INSECURE dev SRS), `workers` in-process workers, a listener on a random loopback port.
    pub async fn start(
        data: &Path,
        db_dir: &Path,
        config: ServiceConfig,
        workers: usize,
        worker_config: WorkerConfig,
    ) -> anyhow::Result<Self> {
        let store = crate::store::open(None, db_dir)
            .await
            .with_context(|| format!("opening the database under {}", db_dir.display()))?;
        let engine = Arc::new(Engine::new(data, SrsChoice::Dev));
        let state = AppState::new(store, engine, config);
        let workers = Workers::spawn(
            &state,
            workers,
            &format!("local-{}", std::process::id()),
            worker_config,
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding a loopback port")?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = crate::api::app(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "local service started");
        Ok(Self {
            base_url: format!("http://{addr}"),
            addr,
            state,
            db_path: db_dir.join(crate::store::SQLITE_FILE),
            workers,
            stop,
            server,
        })
    }

    /// Creates (or reuses) `tenant` and issues a new API key for it, as `zkgrid keys create` does.
    pub async fn api_key(&self, tenant: &str) -> anyhow::Result<String> {
        let t = self.state.store.ensure_tenant(tenant).await?;
        let key = new_api_key();
        self.state
            .store
            .add_api_key(&t.id, &hash_api_key(&key))
            .await?;
        Ok(key)
    }

    /// Stops accepting requests, lets in-flight requests and running jobs finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server
            .await
            .context("the server task failed")?
            .context("serving")?;
        self.workers.shutdown().await;
        Ok(())
    }
}

/// A response: status and body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response {} is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as JSON when the status is 2xx, else an error with the body.
    pub fn ok_json(&self) -> anyhow::Result<Value> {
        if !(200..300).contains(&self.status) {
            bail!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        self.json()
    }
}

/// A client of the REST API with one API key.
#[derive(Clone, Debug)]
pub struct RestClient {
    http: reqwest::Client,
    base_url: String,
    key: String,
}

const BOUNDARY: &str = "zkgrid-form-boundary-4f0c9a";

impl RestClient {
    /// A client of the service at `base_url` using `key`.
    pub fn new(base_url: &str, key: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            key: key.to_string(),
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
        let resp = req.bearer_auth(&self.key).send().await?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await?.to_vec();
        Ok(Reply { status, body })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(self.http.get(format!("{}{path}", self.base_url)))
            .await
            .with_context(|| format!("GET {path}"))
    }

    /// `POST path` with a body.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        self.send(
            self.http
                .post(format!("{}{path}", self.base_url))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
        .with_context(|| format!("POST {path}"))
    }

    /// `POST path` with a JSON document; the 2xx answer as JSON.
    pub async fn post_json(&self, path: &str, doc: &Value) -> anyhow::Result<Value> {
        self.post(path, "application/json", doc.to_string().into_bytes())
            .await?
            .ok_json()
            .with_context(|| format!("POST {path}"))
    }

    /// `GET path`; the 2xx answer as JSON.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.get(path)
            .await?
            .ok_json()
            .with_context(|| format!("GET {path}"))
    }

    /// `POST /v1/models` as a multipart form: the ONNX file and, when given, calibration
    /// samples (JSON). Returns the 202 answer (`id`, `keygen_job_id`, …).
    pub async fn upload_model(
        &self,
        file_name: &str,
        onnx: &[u8],
        calibration: Option<&[u8]>,
    ) -> anyhow::Result<Value> {
        let mut body = Vec::with_capacity(onnx.len() + 4096);
        let mut part = |name: &str, file: &str, data: &[u8]| {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                     filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        };
        part("onnx", file_name, onnx);
        if let Some(c) = calibration {
            part("calibration", "calibration.json", c);
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.post(
            "/v1/models",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
            body,
        )
        .await?
        .ok_json()
        .context("POST /v1/models")
    }

    /// Polls `GET /v1/jobs/{id}` every `poll` until the job is terminal (at most `limit`);
    /// returns the job document (check `state`).
    pub async fn wait_job(
        &self,
        id: &str,
        poll: Duration,
        limit: Duration,
    ) -> anyhow::Result<Value> {
        let t = Instant::now();
        loop {
            let j = self.get_json(&format!("/v1/jobs/{id}")).await?;
            if j["state"] == "succeeded" || j["state"] == "failed" {
                return Ok(j);
            }
            if t.elapsed() > limit {
                bail!("job {id} did not finish within {limit:?}: {j}");
            }
            tokio::time::sleep(poll).await;
        }
    }
}
