//! The service on a real PostgreSQL: the store's lease protocol (same checks as on SQLite), and a
//! durability run of the real `zkgrid` binary: one API server (`serve --workers 0`) and three
//! `zkgrid worker` processes, each with its own data dir, prove 100 jobs of the zoo model
//! `mlp_tiny`; one worker is SIGKILLed while it holds a lease, the API server is SIGKILLed and
//! restarted mid-run. Every job must end `succeeded` with a proof that verifies, none lost, none
//! with two results.
//!
//! The database comes from `ZKGRID_TEST_DATABASE_URL` when set (the role needs CREATEDB: each
//! test works in a database of its own), else from `scripts/pg`, which installs PostgreSQL from
//! Debian's packages when missing and starts a throwaway cluster. If neither works the tests
//! fail: they never skip.

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool, Row};
use zkgrid_models::zoo;
use zkgrid_service::store::PgStore;

const JOBS: usize = 100;
const WORKERS: usize = 3;
/// Short leases so the killed worker's job is back in the queue within seconds.
const LEASE_SECS: &str = "5";

/// A PostgreSQL server for the test: external, or a throwaway cluster stopped on drop.
struct Postgres {
    url: String,
    cluster: Option<tempfile::TempDir>,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster {
            let _ = Command::new("bash")
                .arg(pg_script())
                .arg("stop")
                .arg(dir.path())
                .status();
        }
    }
}

fn pg_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg")
}

fn postgres() -> Result<Postgres> {
    if let Some(url) = std::env::var("ZKGRID_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return Ok(Postgres {
            url: url.trim().to_string(),
            cluster: None,
        });
    }
    // Directly under /tmp: as root the cluster runs as `postgres`, which must reach the dir.
    let dir = tempfile::Builder::new()
        .prefix("zkgrid-pg-test")
        .tempdir_in(std::env::temp_dir())?;
    let out = Command::new("bash")
        .arg(pg_script())
        .arg("start")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .context("running scripts/pg")?;
    let mut pg = Postgres {
        url: String::new(),
        cluster: Some(dir),
    };
    if !out.status.success() {
        bail!(
            "PostgreSQL could not be installed or started by scripts/pg (set \
             ZKGRID_TEST_DATABASE_URL to use an existing server):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    pg.url = String::from_utf8(out.stdout)?
        .lines()
        .last()
        .filter(|l| l.starts_with("postgres://"))
        .context("scripts/pg printed no URL")?
        .to_string();
    Ok(pg)
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .context("database URL without scheme")?;
    let path_at = base[authority_end..]
        .find('/')
        .map(|i| i + authority_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..path_at]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// A new, empty database on the server; returns its URL.
async fn fresh_database(server_url: &str, tag: &str) -> Result<String> {
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(server_url)
        .await
        .with_context(|| format!("connecting to {server_url}"))?;
    let name = format!("zkgrid_{tag}_{}", rand_suffix());
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .with_context(|| format!("creating database {name} (the role needs CREATEDB)"))?;
    admin.close().await;
    with_database(server_url, &name)
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{nanos}", std::process::id())
}

#[test]
fn postgres_store_fences_leases_respects_capability_and_lists() -> Result<()> {
    let pg = postgres()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let store = PgStore::open(&fresh_database(&pg.url, "fence").await?).await?;
        support::lease_fencing(&store).await?;
        let store = PgStore::open(&fresh_database(&pg.url, "cap").await?).await?;
        support::capability_leasing(&store).await?;
        let store = PgStore::open(&fresh_database(&pg.url, "list").await?).await?;
        support::listing(&store).await
    })
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client (one request per connection) for talking to the real binary.

struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "{}: not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size_text = std::str::from_utf8(&body[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        ensure!(body.len() >= size + 2, "truncated chunk");
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(k) = key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    if let Some(c) = content_type {
        head.push_str(&format!("Content-Type: {c}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no HTTP header end")?;
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status: u16 = headers
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let mut body = raw[split + 4..].to_vec();
    if headers.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok(Reply { status, body })
}

fn get(addr: SocketAddr, path: &str, key: &str) -> Result<Reply> {
    http(addr, "GET", path, Some(key), None, &[])
}

fn post_json(addr: SocketAddr, path: &str, key: &str, body: &Value) -> Result<Reply> {
    http(
        addr,
        "POST",
        path,
        Some(key),
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

fn upload_tiny(addr: SocketAddr, key: &str) -> Result<Value> {
    const BOUNDARY: &str = "zkgrid-pg-test-boundary";
    let m = zoo::get("mlp_tiny")?;
    let calib = json!({ "input_data": m.calibration }).to_string();
    let mut body = Vec::new();
    for (name, file, data) in [
        ("onnx", "mlp_tiny.onnx", m.onnx.as_slice()),
        ("calibration", "calibration.json", calib.as_bytes()),
    ] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let r = http(
        addr,
        "POST",
        "/v1/models",
        Some(key),
        Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
        &body,
    )?;
    ensure!(
        r.status == 202,
        "upload: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

// ---------------------------------------------------------------------------------------------
// The real binary as child processes.

struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, args: &[String], logs: &Path) -> Result<Self> {
        let log = logs.join(format!("{name}.log"));
        let out = File::options().create(true).append(true).open(&log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_zkgrid"))
            .args(args)
            .env("ZKGRID_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawning {name}"))?;
        Ok(Self {
            name: name.into(),
            child,
            log,
        })
    }

    /// SIGKILL: no cleanup, no lease release.
    fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    fn ensure_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early with {status}", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

struct Cluster {
    db_url: String,
    root: PathBuf,
    procs: Vec<Proc>,
}

impl Cluster {
    fn start_api(&mut self) -> Result<SocketAddr> {
        let addr = free_addr()?;
        let data = self.root.join("api-data");
        let args: Vec<String> = [
            "--data-dir",
            &data.display().to_string(),
            "serve",
            "--listen",
            &addr.to_string(),
            "--workers",
            "0",
            "--rate",
            "100000",
            "--burst",
            "100000",
            "--lease-secs",
            LEASE_SECS,
            "--database-url",
            &self.db_url,
        ]
        .map(String::from)
        .to_vec();
        self.procs.push(Proc::spawn("api", &args, &self.root)?);
        let t = Instant::now();
        loop {
            if let Ok(r) = http(addr, "GET", "/healthz", None, None, &[]) {
                if r.status == 200 {
                    return Ok(addr);
                }
            }
            self.proc("api")?.ensure_alive()?;
            ensure!(
                t.elapsed() < Duration::from_secs(60),
                "the API server did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start_worker(&mut self, name: &str) -> Result<()> {
        let data = self.root.join(format!("{name}-data"));
        let args: Vec<String> = [
            "--data-dir",
            &data.display().to_string(),
            "worker",
            "--id",
            name,
            "--lease-secs",
            LEASE_SECS,
            "--poll-ms",
            "100",
            "--database-url",
            &self.db_url,
        ]
        .map(String::from)
        .to_vec();
        self.procs.push(Proc::spawn(name, &args, &self.root)?);
        Ok(())
    }

    fn proc(&mut self, name: &str) -> Result<&mut Proc> {
        self.procs
            .iter_mut()
            .rev()
            .find(|p| p.name == name)
            .with_context(|| format!("no process {name}"))
    }

    /// Kills and forgets the latest process called `name`.
    fn kill(&mut self, name: &str) -> Result<()> {
        let i = self
            .procs
            .iter()
            .rposition(|p| p.name == name)
            .with_context(|| format!("no process {name}"))?;
        let mut p = self.procs.remove(i);
        p.kill()
    }

    fn dump_logs(&self) {
        for p in &self.procs {
            let text = std::fs::read_to_string(&p.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("---- last lines of {} ----", p.log.display());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

async fn state_counts(db: &PgPool, model: &str) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT state, COUNT(*) AS n FROM jobs WHERE model_id = $1 AND kind = 'prove' GROUP BY state ORDER BY state",
    )
    .bind(model)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
        .collect()
}

fn count(counts: &[(String, i64)], state: &str) -> i64 {
    counts
        .iter()
        .find(|(s, _)| s == state)
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

#[test]
fn postgres_three_workers_survive_sigkill_and_api_restart() -> Result<()> {
    let pg = postgres()?;
    let rt = tokio::runtime::Runtime::new()?;
    let db_url = rt.block_on(fresh_database(&pg.url, "durability"))?;
    let root = tempfile::tempdir()?;
    let mut cluster = Cluster {
        db_url,
        root: root.path().to_path_buf(),
        procs: vec![],
    };
    let result = durability_run(&rt, &mut cluster);
    if result.is_err() {
        cluster.dump_logs();
    }
    result
}

fn durability_run(rt: &tokio::runtime::Runtime, c: &mut Cluster) -> Result<()> {
    let started = Instant::now();
    let db = rt.block_on(PgPoolOptions::new().max_connections(2).connect(&c.db_url))?;

    // An API key, made by the CLI against the shared database (this also runs the migrations).
    let out = Command::new(env!("CARGO_BIN_EXE_zkgrid"))
        .args(["--json", "--data-dir"])
        .arg(c.root.join("api-data"))
        .args([
            "keys",
            "create",
            "--tenant",
            "pg-durability",
            "--database-url",
        ])
        .arg(&c.db_url)
        .output()?;
    ensure!(
        out.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = serde_json::from_slice::<Value>(&out.stdout)?["api_key"]
        .as_str()
        .context("api_key")?
        .to_string();

    let mut api = c.start_api()?;
    let workers: Vec<String> = (0..WORKERS).map(|i| format!("w{i}")).collect();
    for w in &workers {
        c.start_worker(w)?;
    }

    // The model: compiled by the API server, keys made by whichever worker claims the job.
    let created = upload_tiny(api, &key)?;
    let model_id = created["id"].as_str().context("model id")?.to_string();
    let t = Instant::now();
    let model = loop {
        let m = get(api, &format!("/v1/models/{model_id}"), &key)?.json()?;
        match m["status"].as_str() {
            Some("ready") => break m,
            Some("failed") => bail!("key generation failed: {m}"),
            _ => {}
        }
        ensure!(
            t.elapsed() < Duration::from_secs(120),
            "keys not ready: {m}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let memory = model["estimated_proving_memory_bytes"]
        .as_u64()
        .context("the model has a proving-memory estimate")?;
    ensure!(memory > 0, "{model}");
    eprintln!(
        "model ready after {:.1}s (k = {}, est. {} MiB)",
        started.elapsed().as_secs_f64(),
        model["k"],
        memory >> 20
    );

    let input = json!({ "input": zoo::get("mlp_tiny")?.sample_input });
    let mut jobs = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let mut body = input.clone();
        body["recipient"] = json!(format!("0x{:040x}", i + 1));
        let r = post_json(api, &format!("/v1/models/{model_id}/proofs"), &key, &body)?;
        ensure!(
            r.status == 202,
            "enqueue {i}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        jobs.push(r.json()?["job_id"].as_str().context("job id")?.to_string());
    }

    // SIGKILL worker w1 while it holds a lease. If it happens to be between jobs at that moment,
    // start it again (same name: its next lease is a new attempt) and try again.
    let victim = "w1";
    let owner = format!("{victim}-0");
    let mut interrupted: Vec<(String, i64)> = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        loop {
            let held: Option<String> = rt.block_on(
                sqlx::query_scalar(
                    "SELECT id FROM jobs WHERE state = 'running' AND lease_owner = $1 LIMIT 1",
                )
                .bind(&owner)
                .fetch_optional(&db),
            )?;
            if held.is_some() {
                break;
            }
            c.proc(victim)?.ensure_alive()?;
            ensure!(
                t.elapsed() < Duration::from_secs(120),
                "{victim} never held a lease"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        c.kill(victim)?;
        let rows = rt.block_on(
            sqlx::query(
                "SELECT id, attempts FROM jobs WHERE state = 'running' AND lease_owner = $1",
            )
            .bind(&owner)
            .fetch_all(&db),
        )?;
        interrupted = rows
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("attempts")?)))
            .collect::<Result<_>>()?;
        if !interrupted.is_empty() {
            break;
        }
        c.start_worker(victim)?;
    }
    ensure!(
        !interrupted.is_empty(),
        "could not kill {victim} while it held a lease"
    );
    eprintln!(
        "SIGKILLed {victim} holding {:?} after {:.1}s",
        interrupted,
        started.elapsed().as_secs_f64()
    );

    // Kill the API server (SIGKILL) mid-run and start it again on the same database.
    let t = Instant::now();
    loop {
        let counts = rt.block_on(state_counts(&db, &model_id))?;
        if count(&counts, "succeeded") >= 30 {
            break;
        }
        ensure!(
            t.elapsed() < Duration::from_secs(180),
            "too slow before the API restart: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    c.kill("api")?;
    eprintln!(
        "SIGKILLed the API server after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(500));
    api = c.start_api()?;
    // The restarted server sees every job.
    for j in &jobs {
        let r = get(api, &format!("/v1/jobs/{j}"), &key)?;
        ensure!(r.status == 200, "job {j} after the restart: {}", r.status);
    }

    // Every job ends; none fails.
    let t = Instant::now();
    loop {
        let counts = rt.block_on(state_counts(&db, &model_id))?;
        let done = count(&counts, "succeeded") + count(&counts, "failed");
        if done == JOBS as i64 {
            ensure!(count(&counts, "failed") == 0, "failed jobs: {counts:?}");
            break;
        }
        for w in ["w0", "w2"] {
            c.proc(w)?.ensure_alive()?;
        }
        ensure!(
            t.elapsed() < Duration::from_secs(240),
            "jobs not finished: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "all {JOBS} jobs finished after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Over REST: each job succeeded with its own proof, and each proof verifies on the server.
    let mut proof_ids = std::collections::HashSet::new();
    for (i, j) in jobs.iter().enumerate() {
        let v = get(api, &format!("/v1/jobs/{j}"), &key)?.json()?;
        ensure!(v["state"] == "succeeded", "{v}");
        let proof_id = v["proof_id"].as_str().context("proof id")?.to_string();
        let bundle = get(api, &format!("/v1/proofs/{proof_id}"), &key)?;
        ensure!(bundle.status == 200, "proof {proof_id}: {}", bundle.status);
        let bundle = bundle.json()?;
        let want = format!("{:040x}", i + 1);
        ensure!(
            bundle["output"]["recipient"]
                .as_str()
                .is_some_and(|r| r.to_lowercase().ends_with(&want)),
            "job {j}'s proof binds another recipient: {}",
            bundle["output"]
        );
        let verdict = post_json(api, "/v1/verify", &key, &bundle)?.json()?;
        ensure!(
            verdict["valid"] == true && verdict["model_id"] == model_id.as_str(),
            "{verdict}"
        );
        ensure!(proof_ids.insert(proof_id), "two jobs share a proof");
    }

    // In the database: exactly one proof per job, the one the job points at.
    let rows = rt.block_on(
        sqlx::query(
            "SELECT j.id, j.attempts, j.proof_id, j.memory_bytes, \
                    (SELECT COUNT(*) FROM proofs p WHERE p.job_id = j.id) AS proofs, \
                    (SELECT p.id FROM proofs p WHERE p.job_id = j.id LIMIT 1) AS stored \
             FROM jobs j WHERE j.model_id = $1 AND j.kind = 'prove'",
        )
        .bind(&model_id)
        .fetch_all(&db),
    )?;
    ensure!(
        rows.len() == JOBS,
        "{} prove jobs in the database",
        rows.len()
    );
    for r in &rows {
        let id: String = r.try_get("id")?;
        let n: i64 = r.try_get("proofs")?;
        let (pointed, stored): (Option<String>, Option<String>) =
            (r.try_get("proof_id")?, r.try_get("stored")?);
        ensure!(
            n == 1 && pointed == stored,
            "job {id}: {n} proofs, points at {pointed:?}"
        );
        let mem: Option<i64> = r.try_get("memory_bytes")?;
        ensure!(
            mem.is_some_and(|m| m > 0),
            "job {id} has no memory estimate"
        );
        if let Some((_, before)) = interrupted.iter().find(|(j, _)| *j == id) {
            let attempts: i64 = r.try_get("attempts")?;
            ensure!(
                attempts > *before,
                "job {id} was interrupted on attempt {before}, finished on {attempts}"
            );
        }
    }
    let total: i64 = rt.block_on(
        sqlx::query_scalar("SELECT COUNT(*) FROM proofs WHERE model_id = $1")
            .bind(&model_id)
            .fetch_one(&db),
    )?;
    ensure!(
        total == JOBS as i64,
        "{total} proofs stored for {JOBS} jobs"
    );

    // Every worker registered its capability.
    let registered: Vec<(String, i64, i64)> = rt
        .block_on(
            sqlx::query("SELECT id, cpu_cores, memory_available_bytes FROM workers ORDER BY id")
                .fetch_all(&db),
        )?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("cpu_cores")?,
                r.try_get("memory_available_bytes")?,
            ))
        })
        .collect::<Result<_>>()?;
    for w in &workers {
        let id = format!("{w}-0");
        ensure!(
            registered
                .iter()
                .any(|(r, cores, mem)| *r == id && *cores >= 1 && *mem > 0),
            "{id} not registered: {registered:?}"
        );
    }
    eprintln!(
        "durability run passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
