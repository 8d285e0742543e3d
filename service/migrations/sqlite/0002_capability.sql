-- Capability-aware leasing: estimated proving memory per model and job, and the workers'
-- reported capability.

ALTER TABLE models ADD COLUMN memory_bytes INTEGER;
ALTER TABLE jobs ADD COLUMN memory_bytes INTEGER;

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    cpu_cores INTEGER NOT NULL,
    memory_total_bytes INTEGER NOT NULL,
    memory_available_bytes INTEGER NOT NULL,
    gpu INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
