-- zkgrid service schema (PostgreSQL). Same tables, columns and value encodings as the SQLite
-- schema (times are milliseconds since the Unix epoch, JSON documents are text), so both stores
-- share their row decoding.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- API keys are stored as the SHA-256 (hex) of the key; the key itself is never stored.
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    compiled TEXT NOT NULL,
    options TEXT NOT NULL,
    keys TEXT,
    verifier TEXT,
    keygen_job_id TEXT NOT NULL,
    error TEXT,
    memory_bytes BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX models_tenant_hash ON models (tenant_id, model_hash);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    model_id TEXT NOT NULL REFERENCES models(id),
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_after BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    progress TEXT,
    memory_bytes BIGINT,
    error TEXT,
    timings TEXT,
    proof_id TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX jobs_queue ON jobs (state, run_after, created_at);
CREATE INDEX jobs_lease ON jobs (state, lease_expires_at);

CREATE TABLE proofs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    model_id TEXT NOT NULL REFERENCES models(id),
    job_id TEXT NOT NULL UNIQUE REFERENCES jobs(id),
    bundle TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    cpu_cores BIGINT NOT NULL,
    memory_total_bytes BIGINT NOT NULL,
    memory_available_bytes BIGINT NOT NULL,
    gpu BOOLEAN NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
