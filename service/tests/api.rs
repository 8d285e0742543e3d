//! REST API tests through `app(state)` with `tower::ServiceExt::oneshot`: every endpoint, every
//! error path, one real proof of the zoo model `mlp_tiny` end to end, and a durability test on
//! SQLite (workers killed mid-run, restarted on the same database: every job ends verified).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use zkgrid_models::{zoo, QuantConfig};
use zkgrid_prover::model::SrsChoice;
use zkgrid_prover::ProofBundle;
use zkgrid_service::engine::Engine;
use zkgrid_service::ids::{hash_api_key, new_api_key};
use zkgrid_service::store::{
    now_ms, JobStore, Lease, NewModel, NewProof, NewProveJob, SqliteStore, WorkerCapability,
};
use zkgrid_service::worker::{WorkerConfig, Workers};
use zkgrid_service::{app, AppState, ServiceConfig};

/// Proof-making tests run one at a time (2 cores; they share the key cache).
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// SRS and key cache shared by every test and kept between runs.
fn shared_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("api-data")
}

fn test_config() -> ServiceConfig {
    ServiceConfig {
        rate_per_second: 1000.0,
        rate_burst: 1000.0,
        ..ServiceConfig::default()
    }
}

fn fast_workers() -> WorkerConfig {
    WorkerConfig {
        lease: Duration::from_secs(3),
        heartbeat: Duration::from_millis(300),
        idle_poll: Duration::from_millis(100),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        memory_limit: None,
    }
}

struct Env {
    state: AppState,
    app: Router,
    key_a: String,
    key_b: String,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

async fn keyed(store: &dyn JobStore, tenant: &str) -> Result<String> {
    let t = store.ensure_tenant(tenant).await?;
    let key = new_api_key();
    store.add_api_key(&t.id, &hash_api_key(&key)).await?;
    Ok(key)
}

async fn env_with(config: ServiceConfig) -> Result<Env> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkgrid.db");
    let store = Arc::new(SqliteStore::open(&db).await?);
    let key_a = keyed(store.as_ref(), "tenant-a").await?;
    let key_b = keyed(store.as_ref(), "tenant-b").await?;
    let engine = Arc::new(Engine::new(shared_data_dir(), SrsChoice::Dev));
    let state = AppState::new(store, engine, config);
    Ok(Env {
        app: app(state.clone()),
        state,
        key_a,
        key_b,
        db,
        _dir: dir,
    })
}

async fn env() -> Result<Env> {
    env_with(test_config()).await
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response ({}) is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the status and the one error shape with `code`; returns the message.
    fn error(&self, status: StatusCode, code: &str) -> Result<String> {
        let v = self.json()?;
        if self.status != status || v["error"]["code"] != code {
            bail!("expected {status} {code}, got {} {v}", self.status);
        }
        let msg = v["error"]["message"]
            .as_str()
            .context("error.message is not a string")?;
        if msg.is_empty() {
            bail!("empty error message");
        }
        Ok(msg.to_string())
    }
}

async fn send(app: &Router, req: Request<Body>) -> Result<Resp> {
    let resp = app.clone().oneshot(req).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await?.to_bytes().to_vec();
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn req(method: &str, uri: &str, key: Option<&str>, body: Body) -> Result<Request<Body>> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    Ok(b.body(body)?)
}

async fn get(app: &Router, uri: &str, key: Option<&str>) -> Result<Resp> {
    send(app, req("GET", uri, key, Body::empty())?).await
}

async fn post_json(app: &Router, uri: &str, key: &str, body: &Value) -> Result<Resp> {
    let mut r = req("POST", uri, Some(key), Body::from(body.to_string()))?;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    send(app, r).await
}

const BOUNDARY: &str = "zkgrid-test-boundary-7d1f";

/// A multipart/form-data request; parts are (name, file name, bytes).
fn multipart(uri: &str, key: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Result<Request<Body>> {
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let mut r = req("POST", uri, Some(key), Body::from(body))?;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_str(&format!("multipart/form-data; boundary={BOUNDARY}"))?,
    );
    Ok(r)
}

/// Uploads the zoo model `mlp_tiny` with its calibration; returns the 202 body.
async fn upload_tiny(app: &Router, key: &str) -> Result<Value> {
    let m = zoo::get("mlp_tiny")?;
    let calib = json!({ "input_data": m.calibration }).to_string();
    let r = send(
        app,
        multipart(
            "/v1/models",
            key,
            &[
                ("onnx", Some("mlp_tiny.onnx"), &m.onnx),
                ("calibration", Some("calibration.json"), calib.as_bytes()),
            ],
        )?,
    )
    .await?;
    if r.status != StatusCode::ACCEPTED {
        bail!("upload: {} {}", r.status, String::from_utf8_lossy(&r.body));
    }
    let v = r.json()?;
    let id = v["id"].as_str().context("no model id")?;
    if r.headers
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        != Some(&format!("/v1/models/{id}"))
    {
        bail!("missing Location header");
    }
    Ok(v)
}

fn tiny_input() -> Result<Value> {
    Ok(json!({ "input": zoo::get("mlp_tiny")?.sample_input }))
}

/// Polls a job until it is terminal.
async fn wait_job(app: &Router, key: &str, id: &str, limit: Duration) -> Result<Value> {
    let t = Instant::now();
    loop {
        let r = get(app, &format!("/v1/jobs/{id}"), Some(key)).await?;
        let v = r.json()?;
        if r.status != StatusCode::OK {
            bail!("job {id}: {} {v}", r.status);
        }
        if v["state"] == "succeeded" || v["state"] == "failed" {
            return Ok(v);
        }
        if t.elapsed() > limit {
            bail!("job {id} not finished after {limit:?}: {v}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn health_metrics_openapi_and_fallbacks() -> Result<()> {
    let e = env().await?;
    let r = get(&e.app, "/healthz", None).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()?, json!({"status": "ok"}));

    let r = get(&e.app, "/metrics", None).await?;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body)?;
    for needle in [
        "zkgrid_jobs{state=\"queued\"} 0",
        "zkgrid_jobs{state=\"succeeded\"} 0",
        "zkgrid_queue_depth 0",
        "# TYPE zkgrid_prove_seconds histogram",
        "zkgrid_prove_seconds_bucket{le=\"+Inf\"} 0",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }

    let r = get(&e.app, "/v1/openapi.json", None).await?;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json()?;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for (path, method) in [
        ("/v1/models", "post"),
        ("/v1/models", "get"),
        ("/v1/models/{id}", "get"),
        ("/v1/models/{id}/verifier", "get"),
        ("/v1/models/{id}/proofs", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/proofs/{id}", "get"),
        ("/v1/verify", "post"),
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/v1/openapi.json", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "openapi lacks {method} {path}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["paths"]["/v1/models/{id}/proofs"]["post"]["responses"]["422"].is_object());
    for list in ["/v1/models", "/v1/jobs"] {
        let params = doc["paths"][list]["get"]["parameters"]
            .as_array()
            .context("list parameters")?;
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert!(
            names.contains(&"limit") && names.contains(&"before"),
            "{list}: {names:?}"
        );
        assert!(doc["paths"][list]["get"]["responses"]["422"].is_object());
    }
    assert!(doc["components"]["schemas"]["JobList"].is_object());
    assert!(doc["components"]["schemas"]["ModelList"].is_object());

    get(&e.app, "/v1/nothing-here", Some(&e.key_a))
        .await?
        .error(StatusCode::NOT_FOUND, "not_found")?;
    send(
        &e.app,
        req("DELETE", "/v1/verify", Some(&e.key_a), Body::empty())?,
    )
    .await?
    .error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")?;
    Ok(())
}

#[tokio::test]
async fn missing_or_invalid_key_is_401() -> Result<()> {
    let e = env().await?;
    let routes = [
        ("POST", "/v1/models"),
        ("GET", "/v1/models"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/models/mdl_x"),
        ("GET", "/v1/models/mdl_x/verifier"),
        ("POST", "/v1/models/mdl_x/proofs"),
        ("GET", "/v1/jobs/job_x"),
        ("GET", "/v1/proofs/prf_x"),
        ("POST", "/v1/verify"),
    ];
    for (method, uri) in routes {
        let m = send(&e.app, req(method, uri, None, Body::empty())?)
            .await?
            .error(StatusCode::UNAUTHORIZED, "unauthorized")?;
        assert!(m.contains("missing API key"), "{m}");
        let wrong = new_api_key();
        let m = send(&e.app, req(method, uri, Some(&wrong), Body::empty())?)
            .await?
            .error(StatusCode::UNAUTHORIZED, "unauthorized")?;
        assert!(m.contains("invalid API key"), "{m}");
    }
    let mut basic = req("GET", "/v1/jobs/job_x", None, Body::empty())?;
    basic.headers_mut().insert(
        header::AUTHORIZATION,
        header::HeaderValue::from_str(&format!("Basic {}", e.key_a))?,
    );
    send(&e.app, basic)
        .await?
        .error(StatusCode::UNAUTHORIZED, "unauthorized")?;
    // The X-API-Key header works too, and a valid key reaches the handler (404: unknown job).
    let mut x = req("GET", "/v1/jobs/job_x", None, Body::empty())?;
    x.headers_mut()
        .insert("x-api-key", header::HeaderValue::from_str(&e.key_a)?);
    send(&e.app, x)
        .await?
        .error(StatusCode::NOT_FOUND, "not_found")?;
    Ok(())
}

#[tokio::test]
async fn unknown_ids_are_404() -> Result<()> {
    let e = env().await?;
    let k = Some(e.key_a.as_str());
    for uri in [
        "/v1/models/mdl_0000",
        "/v1/models/mdl_0000/verifier",
        "/v1/jobs/job_0000",
        "/v1/proofs/prf_0000",
    ] {
        let m = get(&e.app, uri, k)
            .await?
            .error(StatusCode::NOT_FOUND, "not_found")?;
        assert!(m.contains("_0000 not found"), "{m}");
    }
    post_json(
        &e.app,
        "/v1/models/mdl_0000/proofs",
        &e.key_a,
        &tiny_input()?,
    )
    .await?
    .error(StatusCode::NOT_FOUND, "not_found")?;
    Ok(())
}

#[tokio::test]
async fn bad_uploads_are_422_naming_the_problem() -> Result<()> {
    let e = env().await?;
    let up = |parts: Vec<(&'static str, Option<&'static str>, Vec<u8>)>| {
        let parts: Vec<(&str, Option<&str>, &[u8])> = parts
            .iter()
            .map(|(n, f, d)| (*n, *f, d.as_slice()))
            .collect();
        multipart("/v1/models", &e.key_a, &parts)
    };
    let m = send(
        &e.app,
        up(vec![(
            "onnx",
            Some("x.onnx"),
            b"this is not a protobuf".to_vec(),
        )])?,
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_onnx")?;
    assert!(m.contains("ONNX"), "{m}");

    let tiny = zoo::get("mlp_tiny")?;
    // Truncated ONNX.
    let half = tiny.onnx[..tiny.onnx.len() / 2].to_vec();
    let m = send(&e.app, up(vec![("onnx", Some("x.onnx"), half)])?)
        .await?
        .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_onnx")?;
    assert!(m.contains("ONNX"), "{m}");

    send(&e.app, up(vec![("name", None, b"no file".to_vec())])?)
        .await?
        .error(StatusCode::UNPROCESSABLE_ENTITY, "missing_onnx")?;
    let m = send(&e.app, up(vec![("weights", Some("w.bin"), vec![1, 2, 3])])?)
        .await?
        .error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_field")?;
    assert!(m.contains("\"weights\""), "{m}");
    let m = send(
        &e.app,
        up(vec![
            ("onnx", Some("t.onnx"), tiny.onnx.clone()),
            ("input_visibility", None, b"secret".to_vec()),
        ])?,
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")?;
    assert!(m.contains("input_visibility"), "{m}");
    let m = send(
        &e.app,
        up(vec![
            ("onnx", Some("t.onnx"), tiny.onnx.clone()),
            ("weights_visibility", None, b"public".to_vec()),
        ])?,
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")?;
    assert!(
        m.contains("weights_visibility") && m.contains("fixed, hashed"),
        "{m}"
    );
    let m = send(
        &e.app,
        up(vec![
            ("onnx", Some("t.onnx"), tiny.onnx.clone()),
            ("optimize", None, b"fastest".to_vec()),
        ])?,
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")?;
    assert!(
        m.contains("optimize") && m.contains("prove, balanced, gas"),
        "{m}"
    );
    // A column budget no layout fits (the narrowest pool has 4 lanes, an accumulator and a
    // range column; the one-column narrow backend takes no hashed weights): refused at
    // upload, naming the budget, instead of a key-generation job that can only fail.
    let m = send(
        &e.app,
        up(vec![
            ("onnx", Some("t.onnx"), tiny.onnx.clone()),
            ("input_visibility", None, b"hashed".to_vec()),
            ("weights_visibility", None, b"hashed".to_vec()),
            ("column_budget", None, b"5".to_vec()),
        ])?,
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "no_feasible_layout")?;
    assert!(m.contains("5 advice columns"), "{m}");
    // Calibration samples of the wrong length (the model takes 16 values).
    let m = send(
        &e.app,
        up(vec![
            ("onnx", Some("t.onnx"), tiny.onnx.clone()),
            ("calibration", Some("c.json"), b"[[0.1, 0.2, 0.3]]".to_vec()),
        ])?,
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "wrong_input_shape")?;
    assert!(m.contains("16 values"), "{m}");
    let m = send(
        &e.app,
        up(vec![
            ("onnx", Some("t.onnx"), tiny.onnx.clone()),
            ("bits", None, b"99".to_vec()),
        ])?,
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_setting")?;
    assert!(m.contains("bits"), "{m}");
    // Not multipart at all.
    let m = post_json(&e.app, "/v1/models", &e.key_a, &json!({"onnx": "x"}))
        .await?
        .error(StatusCode::BAD_REQUEST, "bad_body")?;
    assert!(m.to_lowercase().contains("multipart"), "{m}");
    Ok(())
}

#[tokio::test]
async fn tenants_see_only_their_own_resources_and_inputs_are_checked() -> Result<()> {
    let e = env().await?;
    let created = upload_tiny(&e.app, &e.key_a).await?;
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_str().context("id")?.to_string();
    let keygen = created["keygen_job_id"]
        .as_str()
        .context("job")?
        .to_string();

    // Owner sees the model: layer table and quantization report now, k/columns after keygen.
    let r = get(&e.app, &format!("/v1/models/{id}"), Some(&e.key_a)).await?;
    assert_eq!(r.status, StatusCode::OK);
    let m = r.json()?;
    assert_eq!(m["status"], "pending");
    assert_eq!(m["name"], "mlp_tiny");
    assert_eq!(m["input_shape"], json!([1, 16]));
    assert_eq!(m["output_shape"], json!([1, 4]));
    assert!(m["layers"].as_array().is_some_and(|l| l.len() >= 3), "{m}");
    assert_eq!(m["quantization"]["calibration_source"], "provided");
    assert!(m["quantization"]["output_error_bound"].as_f64().is_some());
    assert!(m["k"].is_null() && m["columns"].is_null());
    assert_eq!(m["options"]["input_visibility"], "public");
    get(&e.app, &format!("/v1/models/{id}/verifier"), Some(&e.key_a))
        .await?
        .error(StatusCode::CONFLICT, "model_not_ready")?;
    let r = get(&e.app, &format!("/v1/jobs/{keygen}"), Some(&e.key_a)).await?;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json()?;
    assert_eq!(
        (j["kind"].as_str(), j["state"].as_str()),
        (Some("keygen"), Some("queued"))
    );

    // Another tenant gets 404 for every one of them.
    let kb = Some(e.key_b.as_str());
    for uri in [
        format!("/v1/models/{id}"),
        format!("/v1/models/{id}/verifier"),
        format!("/v1/jobs/{keygen}"),
    ] {
        get(&e.app, &uri, kb)
            .await?
            .error(StatusCode::NOT_FOUND, "not_found")?;
    }
    post_json(
        &e.app,
        &format!("/v1/models/{id}/proofs"),
        &e.key_b,
        &tiny_input()?,
    )
    .await?
    .error(StatusCode::NOT_FOUND, "not_found")?;

    // Inputs are checked before a job is queued.
    let proofs = format!("/v1/models/{id}/proofs");
    let m = post_json(
        &e.app,
        &proofs,
        &e.key_a,
        &json!({"input": [0.5, 0.25, 0.125]}),
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "wrong_input_shape")?;
    assert!(
        m.contains("expects 16 values") && m.contains("got 3"),
        "{m}"
    );
    let m = post_json(
        &e.app,
        &proofs,
        &e.key_a,
        &json!({"input": vec![1.0e9; 16]}),
    )
    .await?
    .error(StatusCode::UNPROCESSABLE_ENTITY, "input_out_of_range")?;
    assert!(m.contains("index 0"), "{m}");
    post_json(&e.app, &proofs, &e.key_a, &json!({"values": [1]}))
        .await?
        .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")?;
    let mut bad = tiny_input()?;
    bad["recipient"] = json!("0x1234");
    post_json(&e.app, &proofs, &e.key_a, &bad)
        .await?
        .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_recipient")?;
    let raw = send(
        &e.app,
        req("POST", &proofs, Some(&e.key_a), Body::from("{not json"))?,
    )
    .await?;
    raw.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_json")?;

    // A good input is queued durably (no worker runs here) and is the owner's only.
    let r = post_json(&e.app, &proofs, &e.key_a, &tiny_input()?).await?;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let accepted = r.json()?;
    let job = accepted["job_id"].as_str().context("job id")?;
    assert_eq!(accepted["state"], "queued");
    assert_eq!(
        r.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(format!("/v1/jobs/{job}").as_str())
    );
    let stored = e
        .state
        .store
        .job(&e.state.store.ensure_tenant("tenant-a").await?.id, job)
        .await?
        .context("the job is in the database")?;
    assert_eq!(stored.payload["input_q"].as_array().map(Vec::len), Some(16));
    get(&e.app, &format!("/v1/jobs/{job}"), kb)
        .await?
        .error(StatusCode::NOT_FOUND, "not_found")?;
    let metrics = String::from_utf8(get(&e.app, "/metrics", None).await?.body)?;
    assert!(metrics.contains("zkgrid_queue_depth 2"), "{metrics}");
    Ok(())
}

#[tokio::test]
async fn oversized_bodies_are_413() -> Result<()> {
    let e = env_with(ServiceConfig {
        max_body_bytes: 1024,
        ..test_config()
    })
    .await?;
    let big = vec![7u8; 4096];
    let m = send(
        &e.app,
        multipart("/v1/models", &e.key_a, &[("onnx", Some("big.onnx"), &big)])?,
    )
    .await?
    .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")?;
    assert!(m.contains("1024"), "{m}");
    let big_json = json!({ "input": vec![0.5; 2000] });
    post_json(&e.app, "/v1/models/mdl_x/proofs", &e.key_a, &big_json)
        .await?
        .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")?;
    post_json(&e.app, "/v1/verify", &e.key_a, &big_json)
        .await?
        .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")?;
    Ok(())
}

#[tokio::test]
async fn rate_limit_is_429_per_key() -> Result<()> {
    let e = env_with(ServiceConfig {
        rate_per_second: 0.01,
        rate_burst: 3.0,
        ..test_config()
    })
    .await?;
    for _ in 0..3 {
        get(&e.app, "/v1/jobs/job_x", Some(&e.key_a))
            .await?
            .error(StatusCode::NOT_FOUND, "not_found")?;
    }
    let r = get(&e.app, "/v1/jobs/job_x", Some(&e.key_a)).await?;
    r.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited")?;
    let retry: u64 = r
        .headers
        .get(header::RETRY_AFTER)
        .context("Retry-After header")?
        .to_str()?
        .parse()?;
    assert!(retry >= 1);
    // Other keys have their own bucket.
    get(&e.app, "/v1/jobs/job_x", Some(&e.key_b))
        .await?
        .error(StatusCode::NOT_FOUND, "not_found")?;
    Ok(())
}

#[tokio::test]
async fn malformed_bundles_are_422() -> Result<()> {
    let e = env().await?;
    let m = post_json(&e.app, "/v1/verify", &e.key_a, &json!({"proof": "0x00"}))
        .await?
        .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_bundle")?;
    assert!(m.contains("proof bundle"), "{m}");
    let raw = send(
        &e.app,
        req(
            "POST",
            "/v1/verify",
            Some(&e.key_a),
            Body::from(vec![0xff, 0xfe]),
        )?,
    )
    .await?;
    raw.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_bundle")?;
    Ok(())
}

#[test]
fn keys_create_prints_a_working_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zkgrid"))
        .args(["--json", "--data-dir"])
        .arg(dir.path())
        .args(["keys", "create", "--tenant", "acme"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let key = v["api_key"].as_str().context("api_key")?.to_string();
    assert!(key.starts_with("zkg_") && key.len() == 68, "{key}");
    assert_eq!(v["tenant"], "acme");
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let db = dir.path().join("zkgrid.db");
        // Only the hash is stored.
        for file in ["zkgrid.db", "zkgrid.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "the key itself is in {file}"
            );
        }
        let store = Arc::new(SqliteStore::open(&db).await?);
        let tenant = store
            .tenant_by_key_hash(&hash_api_key(&key))
            .await?
            .context("key resolves to its tenant")?;
        assert_eq!(tenant.name, "acme");
        let state = AppState::new(
            store,
            Arc::new(Engine::new(shared_data_dir(), SrsChoice::Dev)),
            test_config(),
        );
        get(&app(state), "/v1/jobs/job_x", Some(&key))
            .await?
            .error(StatusCode::NOT_FOUND, "not_found")?;
        anyhow::Ok(())
    })
}

/// Private weights over REST: the option is stored, the first instance of the proof is the
/// weights commitment of the uploaded model, and the proof verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_weights_upload_prove_and_verify() -> Result<()> {
    let _heavy = HEAVY.lock().await;
    let e = env().await?;
    let workers = Workers::spawn(&e.state, 1, "hashed", fast_workers());
    let tiny = zoo::get("mlp_tiny")?;
    let calib = json!({ "input_data": tiny.calibration }).to_string();
    let r = send(
        &e.app,
        multipart(
            "/v1/models",
            &e.key_a,
            &[
                ("onnx", Some("mlp_tiny.onnx"), &tiny.onnx),
                ("calibration", Some("calibration.json"), calib.as_bytes()),
                ("weights_visibility", None, b"hashed"),
                ("optimize", None, b"gas"),
            ],
        )?,
    )
    .await?;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let created = r.json()?;
    let id = created["id"].as_str().context("id")?.to_string();
    let keygen = wait_job(
        &e.app,
        &e.key_a,
        created["keygen_job_id"].as_str().context("job")?,
        Duration::from_secs(180),
    )
    .await?;
    assert_eq!(keygen["state"], "succeeded", "{keygen}");
    let m = get(&e.app, &format!("/v1/models/{id}"), Some(&e.key_a))
        .await?
        .json()?;
    assert_eq!(m["options"]["weights_visibility"], "hashed", "{m}");
    assert_eq!(m["options"]["optimize"], "gas", "{m}");
    assert_eq!(m["instance_values"], 1 + 16 + 4 + 1, "{m}");

    let r = post_json(
        &e.app,
        &format!("/v1/models/{id}/proofs"),
        &e.key_a,
        &tiny_input()?,
    )
    .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let job_id = r.json()?["job_id"].as_str().context("job id")?.to_string();
    let job = wait_job(&e.app, &e.key_a, &job_id, Duration::from_secs(180)).await?;
    assert_eq!(job["state"], "succeeded", "{job}");
    let proof_id = job["proof_id"].as_str().context("proof id")?;
    let text = String::from_utf8(
        get(&e.app, &format!("/v1/proofs/{proof_id}"), Some(&e.key_a))
            .await?
            .body,
    )?;
    let bundle = ProofBundle::from_json(&text)?;
    let compiled = zkgrid_models::compile(
        &tiny.onnx,
        "mlp_tiny",
        Some(&tiny.calibration),
        &QuantConfig::default(),
    )?;
    let commitment = zkgrid_circuits::model::weights_commitment(&compiled.model)?;
    assert_eq!(bundle.instances[0][0], commitment);
    assert_eq!(
        m["weights_commitment"],
        json!(zkgrid_prover::bundle::fr_to_hex(&commitment)),
        "{m}"
    );
    let v = post_json(
        &e.app,
        "/v1/verify",
        &e.key_a,
        &serde_json::from_str(&text)?,
    )
    .await?
    .json()?;
    assert_eq!(v["valid"], true, "{v}");
    workers.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlp_tiny_end_to_end_proof_verify_and_verifier() -> Result<()> {
    let _heavy = HEAVY.lock().await;
    let e = env().await?;
    let workers = Workers::spawn(&e.state, 1, "e2e", fast_workers());
    let created = upload_tiny(&e.app, &e.key_a).await?;
    let id = created["id"].as_str().context("id")?.to_string();
    let keygen = wait_job(
        &e.app,
        &e.key_a,
        created["keygen_job_id"].as_str().context("job")?,
        Duration::from_secs(120),
    )
    .await?;
    assert_eq!(keygen["state"], "succeeded", "{keygen}");
    assert!(keygen["timings"]["keys_s"].as_f64().is_some(), "{keygen}");

    let m = get(&e.app, &format!("/v1/models/{id}"), Some(&e.key_a))
        .await?
        .json()?;
    assert_eq!(m["status"], "ready", "{m}");
    let k = m["k"].as_u64().context("k")?;
    assert!((9..=12).contains(&k), "k = {k}");
    assert!(
        m["columns"]["advice"].as_u64().is_some_and(|a| a > 0),
        "{m}"
    );
    assert_eq!(m["instance_values"], 16 + 4 + 1);
    assert_eq!(m["srs"]["insecure"], true);

    let recipient = "0x00000000000000000000000000000000000000aa";
    let mut input = tiny_input()?;
    input["recipient"] = json!(recipient);
    let r = post_json(&e.app, &format!("/v1/models/{id}/proofs"), &e.key_a, &input).await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let job_id = r.json()?["job_id"].as_str().context("job id")?.to_string();
    let job = wait_job(&e.app, &e.key_a, &job_id, Duration::from_secs(120)).await?;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "prove");
    assert_eq!(job["attempts"], 1);
    for t in ["witness_s", "prove_s", "verify_s", "total_s"] {
        assert!(job["timings"][t].as_f64().is_some(), "{t}: {job}");
    }
    assert!(job["queued_s"].as_f64().is_some() && job["finished_at"].as_i64().is_some());
    let proof_id = job["proof_id"].as_str().context("proof id")?.to_string();

    let r = get(&e.app, &format!("/v1/proofs/{proof_id}"), Some(&e.key_a)).await?;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body)?;
    let bundle = ProofBundle::from_json(&text)?;
    // The proven output is the reference executor's output on the same input.
    let tiny = zoo::get("mlp_tiny")?;
    let compiled = zkgrid_models::compile(
        &tiny.onnx,
        "mlp_tiny",
        Some(&tiny.calibration),
        &QuantConfig::default(),
    )?;
    assert_eq!(bundle.model_hash, compiled.model_hash);
    let q = zkgrid_models::quantize_input(&compiled.model, &tiny.sample_input)?;
    let expected = zkgrid_models::execute(&compiled.model, &q)?;
    assert_eq!(bundle.output["values"], json!(expected.output()));
    assert!(bundle.output["recipient"]
        .as_str()
        .is_some_and(|r| r.ends_with("aa")));
    let bundle_json: Value = serde_json::from_str(&text)?;
    assert!(bundle_json["calldata"]
        .as_str()
        .is_some_and(|c| c.starts_with("0x")));

    // Another tenant cannot read the proof.
    get(&e.app, &format!("/v1/proofs/{proof_id}"), Some(&e.key_b))
        .await?
        .error(StatusCode::NOT_FOUND, "not_found")?;

    let v = post_json(&e.app, "/v1/verify", &e.key_a, &bundle_json).await?;
    assert_eq!(v.status, StatusCode::OK);
    let v = v.json()?;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["model_id"], id.as_str());
    // Any tenant can verify a proof (without the output check against its own model).
    let v = post_json(&e.app, "/v1/verify", &e.key_b, &bundle_json)
        .await?
        .json()?;
    assert_eq!(
        (v["valid"].clone(), v["model_id"].clone()),
        (json!(true), Value::Null)
    );

    // A changed output value does not verify.
    let mut forged = bundle.clone();
    let out_at = 16;
    forged.instances[0][out_at] += zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr::from(1u64);
    let forged_json: Value = serde_json::from_str(&forged.to_json()?)?;
    let v = post_json(&e.app, "/v1/verify", &e.key_a, &forged_json)
        .await?
        .json()?;
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
    // A bundle for a verifying key the service never made is 422.
    let mut unknown = bundle_json.clone();
    unknown["vk_hash"] = json!(format!("0x{}", "ab".repeat(32)));
    let msg = post_json(&e.app, "/v1/verify", &e.key_a, &unknown)
        .await?
        .error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_verifying_key")?;
    assert!(msg.contains("verifying key"), "{msg}");

    // The Solidity verifier: source, ABI, bytecode (generated once, then served from the store).
    let r = get(&e.app, &format!("/v1/models/{id}/verifier"), Some(&e.key_a)).await?;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let ver = r.json()?;
    assert!(ver["solidity"]
        .as_str()
        .is_some_and(|s| s.contains("contract Halo2Verifier")));
    assert!(ver["bytecode"]
        .as_str()
        .is_some_and(|b| b.starts_with("0x") && b.len() > 1000));
    assert!(ver["vk_contracts"]
        .as_array()
        .is_some_and(|v| !v.is_empty()));
    assert!(ver["abi"]
        .as_array()
        .is_some_and(|a| a.iter().any(|f| f["name"] == "verifyProof")));
    assert_eq!(ver["instance_values"], 21);
    assert_eq!(ver["vk_hash"], m["vk_hash"]);
    let again = get(&e.app, &format!("/v1/models/{id}/verifier"), Some(&e.key_a))
        .await?
        .json()?;
    assert_eq!(again["bytecode"], ver["bytecode"]);

    let metrics = String::from_utf8(get(&e.app, "/metrics", None).await?.body)?;
    for needle in [
        "zkgrid_prove_seconds_count 1",
        "zkgrid_jobs{state=\"succeeded\"} 2",
        "zkgrid_queue_depth 0",
        "zkgrid_job_attempts_total{outcome=\"succeeded\"} 2",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    workers.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_jobs_survive_a_worker_crash_and_restart() -> Result<()> {
    let _heavy = HEAVY.lock().await;
    const JOBS: usize = 4;
    let e = env().await?;
    let created = upload_tiny(&e.app, &e.key_a).await?;
    let model_id = created["id"].as_str().context("id")?.to_string();
    let mut jobs = vec![];
    for i in 0..JOBS {
        let mut input = tiny_input()?;
        input["recipient"] = json!(format!("0x{:040x}", i + 1));
        let r = post_json(
            &e.app,
            &format!("/v1/models/{model_id}/proofs"),
            &e.key_a,
            &input,
        )
        .await?;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        jobs.push(r.json()?["job_id"].as_str().context("job id")?.to_string());
    }
    let tenant = e.state.store.ensure_tenant("tenant-a").await?.id;

    // First life: a worker runs until a proof job is in flight, then everything is dropped
    // (tasks aborted, no completion, no cleanup), like a killed process.
    let workers = Workers::spawn(&e.state, 1, "first-life", fast_workers());
    let t = Instant::now();
    let interrupted = loop {
        let mut running = None;
        for j in &jobs {
            let rec = e.state.store.job(&tenant, j).await?.context("job")?;
            if rec.state.as_str() == "running" {
                running = Some(rec.id.clone());
            }
        }
        if let Some(r) = running {
            break r;
        }
        if t.elapsed() > Duration::from_secs(120) {
            bail!("no proof job started");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    workers.abort();
    let Env {
        state,
        app: first_app,
        key_a,
        db,
        _dir,
        ..
    } = e;
    drop(first_app);
    drop(state);
    let before = {
        let store = SqliteStore::open(&db).await?;
        let rec = store.job(&tenant, &interrupted).await?.context("job")?;
        assert_eq!(
            rec.state.as_str(),
            "running",
            "the crashed attempt still holds its lease"
        );
        assert_eq!(rec.lease_owner.as_deref(), Some("first-life-0"));
        rec.attempts
    };

    // Second life on the same database: the lapsed lease returns the job to the queue.
    let store = Arc::new(SqliteStore::open(&db).await?);
    let state = AppState::new(
        store,
        Arc::new(Engine::new(shared_data_dir(), SrsChoice::Dev)),
        test_config(),
    );
    let app2 = app(state.clone());
    let workers = Workers::spawn(&state, 1, "second-life", fast_workers());
    let mut proofs = std::collections::HashSet::new();
    for j in &jobs {
        let v = wait_job(&app2, &key_a, j, Duration::from_secs(120)).await?;
        assert_eq!(v["state"], "succeeded", "{v}");
        let proof_id = v["proof_id"].as_str().context("proof id")?.to_string();
        let bundle: Value = get(&app2, &format!("/v1/proofs/{proof_id}"), Some(&key_a))
            .await?
            .json()?;
        let verdict = post_json(&app2, "/v1/verify", &key_a, &bundle)
            .await?
            .json()?;
        assert_eq!(verdict["valid"], true, "{verdict}");
        assert_eq!(verdict["model_id"], model_id.as_str());
        assert!(proofs.insert(proof_id), "two jobs share a proof");
        if *j == interrupted {
            assert!(
                v["attempts"].as_u64() > Some(u64::from(before)),
                "re-run after the crash: {v}"
            );
        }
    }
    assert_eq!(proofs.len(), JOBS);
    // The crashed worker's lease lapsed and another worker finished the job: a late completion
    // under the old lease (as a zombie process would attempt) writes nothing.
    let zombie = Lease {
        job_id: interrupted.clone(),
        worker: "first-life-0".into(),
        attempt: before,
    };
    let late = NewProof {
        id: "prf_zombie".into(),
        bundle: "{}".into(),
    };
    assert!(
        !state
            .store
            .complete_proof(&zombie, late, &json!({}), now_ms())
            .await?
    );
    assert!(state.store.proof(&tenant, "prf_zombie").await?.is_none());
    let finished = state
        .store
        .job(&tenant, &interrupted)
        .await?
        .context("job")?;
    assert!(finished
        .proof_id
        .as_ref()
        .is_some_and(|p| proofs.contains(p)));
    let metrics = String::from_utf8(get(&app2, "/metrics", None).await?.body)?;
    assert!(
        metrics.contains(&format!("zkgrid_jobs{{state=\"succeeded\"}} {}", JOBS + 1)),
        "{metrics}"
    );
    assert!(
        metrics.contains("zkgrid_jobs{state=\"running\"} 0"),
        "{metrics}"
    );
    workers.shutdown().await;
    Ok(())
}

/// Inserts `n` models for `tenant` straight into the store (no upload, no proving), each with
/// its keygen job and `jobs_each` prove jobs. Returns the model ids and every job id.
async fn seed(
    store: &dyn JobStore,
    tenant: &str,
    n: usize,
    jobs_each: usize,
) -> Result<(Vec<String>, Vec<String>)> {
    let t = store.ensure_tenant(tenant).await?;
    let (mut models, mut jobs) = (vec![], vec![]);
    for i in 0..n {
        let (id, keygen) = (
            zkgrid_service::ids::new_id("mdl"),
            zkgrid_service::ids::new_id("job"),
        );
        store
            .create_model(NewModel {
                id: id.clone(),
                tenant_id: t.id.clone(),
                name: format!("{tenant}-{i}"),
                model_hash: format!("hash-{tenant}-{i}"),
                compiled: json!({}),
                options: json!({}),
                keygen_job_id: keygen.clone(),
                max_attempts: 3,
                memory_bytes: None,
            })
            .await?;
        jobs.push(keygen);
        for _ in 0..jobs_each {
            let j = zkgrid_service::ids::new_id("job");
            store
                .enqueue_proof(NewProveJob {
                    id: j.clone(),
                    tenant_id: t.id.clone(),
                    model_id: id.clone(),
                    payload: json!({"input_q": [1], "recipient": "0x00"}),
                    max_attempts: 3,
                })
                .await?;
            jobs.push(j);
        }
        models.push(id);
        // Distinct creation times for most rows; equal ones are ordered by id.
        if i % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    Ok((models, jobs))
}

/// Follows `next_before` from `uri` (which has a query string) until the last page; returns
/// every item and the number of pages.
async fn all_pages(app: &Router, key: &str, uri: &str) -> Result<(Vec<Value>, usize)> {
    let (mut items, mut pages, mut next): (Vec<Value>, usize, Option<String>) = (vec![], 0, None);
    loop {
        let u = match &next {
            Some(c) => format!("{uri}&before={c}"),
            None => uri.to_string(),
        };
        let r = get(app, &u, Some(key)).await?;
        if r.status != StatusCode::OK {
            bail!("{u}: {} {}", r.status, String::from_utf8_lossy(&r.body));
        }
        let v = r.json()?;
        items.extend(v["items"].as_array().context("items")?.iter().cloned());
        pages += 1;
        match v["next_before"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => return Ok((items, pages)),
        }
        if pages > 100 {
            bail!("{uri}: pagination does not end");
        }
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect()
}

/// Newest first by (created_at, id).
fn assert_newest_first(items: &[Value]) {
    for w in items.windows(2) {
        let key = |v: &Value| {
            (
                v["created_at"].as_i64(),
                v["id"].as_str().map(str::to_string),
            )
        };
        assert!(
            key(&w[0]) > key(&w[1]),
            "not newest first: {} then {}",
            w[0],
            w[1]
        );
    }
}

#[tokio::test]
async fn lists_are_tenant_scoped_newest_first_and_paginated() -> Result<()> {
    let e = env().await?;
    let store = e.state.store.as_ref();
    let (models_a, jobs_a) = seed(store, "tenant-a", 7, 2).await?;
    let (models_b, jobs_b) = seed(store, "tenant-b", 3, 1).await?;

    // Models: the owner's only, newest first; default limit covers them all.
    let r = get(&e.app, "/v1/models", Some(&e.key_a)).await?;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json()?;
    let items = v["items"].as_array().context("items")?;
    assert!(v["next_before"].is_null(), "{v}");
    let mut want = models_a.clone();
    want.sort();
    let mut got = ids(items);
    got.sort();
    assert_eq!(got, want);
    assert_newest_first(items);
    assert_eq!(items[0]["status"], "pending");
    assert!(items[0]["keygen_job_id"]
        .as_str()
        .is_some_and(|j| jobs_a.contains(&j.to_string())));
    assert!(items[0].get("compiled").is_none() && items[0].get("layers").is_none());

    // Pages of 3: 7 models in 3 pages, each exactly once, same order as one page.
    let (paged, pages) = all_pages(&e.app, &e.key_a, "/v1/models?limit=3").await?;
    assert_eq!(pages, 3);
    assert_eq!(ids(&paged), ids(items));
    // Tenant B sees its 3 models only, A's never.
    let (b_items, _) = all_pages(&e.app, &e.key_b, "/v1/models?limit=2").await?;
    let mut b_ids = ids(&b_items);
    b_ids.sort();
    let mut want_b = models_b.clone();
    want_b.sort();
    assert_eq!(b_ids, want_b);

    // Jobs: 7 keygen + 14 prove jobs for A, paged by 5, newest first, none of B's.
    let (jobs, pages) = all_pages(&e.app, &e.key_a, "/v1/jobs?limit=5").await?;
    assert_eq!(pages, 5);
    assert_newest_first(&jobs);
    let mut got = ids(&jobs);
    got.sort();
    let mut want = jobs_a.clone();
    want.sort();
    assert_eq!(got, want);
    assert!(ids(&jobs).iter().all(|j| !jobs_b.contains(j)));
    // State filter.
    let (queued, _) = all_pages(&e.app, &e.key_a, "/v1/jobs?state=queued&limit=500").await?;
    assert_eq!(queued.len(), jobs_a.len());
    let r = get(&e.app, "/v1/jobs?state=succeeded", Some(&e.key_a)).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()?["items"], json!([]));
    let (kinds, _) = all_pages(&e.app, &e.key_a, "/v1/jobs?state=queued&limit=4").await?;
    assert!(kinds.iter().all(|j| j["state"] == "queued"));

    // A time cursor: strictly older than the 4th-newest model's creation time.
    let t = items[3]["created_at"].as_i64().context("created_at")?;
    let r = get(&e.app, &format!("/v1/models?before={t}"), Some(&e.key_a)).await?;
    let older = r.json()?;
    let older = older["items"].as_array().context("items")?;
    assert!(!older.is_empty() && older.len() < items.len());
    assert!(older.iter().all(|m| m["created_at"].as_i64() < Some(t)));
    // limit=1 reports a cursor; the last page does not.
    let r = get(&e.app, "/v1/jobs?limit=1", Some(&e.key_b)).await?;
    let v = r.json()?;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["next_before"], v["items"][0]["id"]);

    // Another tenant's id is not a cursor (422), nor is an unknown one; no leak either way.
    for uri in [
        format!("/v1/models?before={}", models_b[0]),
        format!("/v1/jobs?before={}", jobs_b[0]),
        "/v1/jobs?before=job_0000".to_string(),
    ] {
        let m = get(&e.app, &uri, Some(&e.key_a))
            .await?
            .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor")?;
        assert!(m.contains("not one of your"), "{m}");
    }
    // Bad parameters: 422 in the one error shape, naming the parameter.
    for (uri, code, needle) in [
        ("/v1/jobs?limit=0", "invalid_parameter", "limit"),
        ("/v1/jobs?limit=501", "invalid_parameter", "limit"),
        ("/v1/models?limit=-3", "invalid_parameter", "limit"),
        ("/v1/models?limit=lots", "invalid_parameter", "limit"),
        ("/v1/jobs?state=done", "invalid_parameter", "state"),
        (
            "/v1/jobs?before=%27%3B%20DROP%20TABLE%20jobs",
            "invalid_parameter",
            "before",
        ),
        ("/v1/jobs?limit=1&limit=2", "invalid_parameter", "limit"),
        ("/v1/models?state=queued", "unknown_parameter", "state"),
        ("/v1/jobs?sort=asc", "unknown_parameter", "sort"),
    ] {
        let m = get(&e.app, uri, Some(&e.key_a))
            .await?
            .error(StatusCode::UNPROCESSABLE_ENTITY, code)?;
        assert!(m.contains(needle), "{uri}: {m}");
    }
    // Bytes that are not UTF-8 are a bad value too, never a panic.
    get(&e.app, "/v1/jobs?limit=%FF%FE", Some(&e.key_a))
        .await?
        .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter")?;
    Ok(())
}

/// `GET /v1/jobs/{id}` says why a queued job with a memory estimate waits: no live worker, or
/// none with enough memory; nothing once a worker that can hold it reports.
#[tokio::test]
async fn queued_jobs_say_why_no_worker_takes_them() -> Result<()> {
    const MIB: u64 = 1 << 20;
    let e = env().await?;
    let store = e.state.store.as_ref();
    let t = store.ensure_tenant("tenant-a").await?;
    let (model, keygen) = (
        zkgrid_service::ids::new_id("mdl"),
        zkgrid_service::ids::new_id("job"),
    );
    store
        .create_model(NewModel {
            id: model,
            tenant_id: t.id.clone(),
            name: "big".into(),
            model_hash: "hash-big".into(),
            compiled: json!({}),
            options: json!({}),
            keygen_job_id: keygen.clone(),
            max_attempts: 3,
            memory_bytes: Some(2048 * MIB),
        })
        .await?;
    let uri = format!("/v1/jobs/{keygen}");
    let view = get(&e.app, &uri, Some(&e.key_a)).await?.json()?;
    assert_eq!(view["memory_bytes"], json!(2048 * MIB), "{view}");
    let reason = view["waiting_reason"].as_str().context("no reason")?;
    assert!(reason.contains("no worker has reported"), "{reason}");

    let worker = |available_mib: u64| WorkerCapability {
        hostname: "test".into(),
        cpu_cores: 2,
        memory_total_bytes: 4096 * MIB,
        memory_available_bytes: available_mib * MIB,
        gpu: false,
    };
    store
        .register_worker("small", &worker(512), now_ms())
        .await?;
    let view = get(&e.app, &uri, Some(&e.key_a)).await?.json()?;
    let reason = view["waiting_reason"].as_str().context("no reason")?;
    assert!(
        reason.contains("2048 MiB") && reason.contains("512 MiB"),
        "{reason}"
    );

    store
        .register_worker("big", &worker(3000), now_ms())
        .await?;
    let view = get(&e.app, &uri, Some(&e.key_a)).await?.json()?;
    assert!(view["waiting_reason"].is_null(), "{view}");
    Ok(())
}
