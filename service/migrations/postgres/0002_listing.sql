-- Tenant listings (GET /v1/models, GET /v1/jobs): newest first, keyset-paginated by
-- (created_at, id).

CREATE INDEX models_tenant_created ON models (tenant_id, created_at, id);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at, id);
