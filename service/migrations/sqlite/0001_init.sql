-- zkgrid service schema (SQLite). Times are milliseconds since the Unix epoch.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- API keys are stored as the SHA-256 (hex) of the key; the key itself is never stored.
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    created_at INTEGER NOT NULL
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
    created_at INTEGER NOT NULL
);
CREATE INDEX models_tenant_hash ON models (tenant_id, model_hash);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    model_id TEXT NOT NULL REFERENCES models(id),
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_after INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    progress TEXT,
    error TEXT,
    timings TEXT,
    proof_id TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX jobs_queue ON jobs (state, run_after, created_at);
CREATE INDEX jobs_lease ON jobs (state, lease_expires_at);

CREATE TABLE proofs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    model_id TEXT NOT NULL REFERENCES models(id),
    job_id TEXT NOT NULL UNIQUE REFERENCES jobs(id),
    bundle TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
