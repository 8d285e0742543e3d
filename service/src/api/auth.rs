//! API-key authentication and per-key rate limiting.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;
use crate::ids::hash_api_key;
use crate::state::AppState;

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, key) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| key.trim())
            .filter(|k| !k.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Middleware: resolves the API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`) to its
/// tenant (401 otherwise), applies the key's rate limit (429) and stores the
/// [`crate::store::Tenant`] in the request extensions.
pub async fn require_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = presented_key(req.headers()).ok_or(ApiError::Unauthorized(
        "missing API key: send `Authorization: Bearer <key>` (create one with `zkgrid keys create`)",
    ))?;
    let hash = hash_api_key(key);
    let tenant = state
        .store
        .tenant_by_key_hash(&hash)
        .await?
        .ok_or(ApiError::Unauthorized("invalid API key"))?;
    if let Err(wait) = state.limiter.check(&hash) {
        let secs = if wait.is_finite() {
            wait.ceil().max(1.0) as u64
        } else {
            3600
        };
        return Err(ApiError::RateLimited {
            retry_after_s: secs,
        });
    }
    req.extensions_mut().insert(tenant);
    Ok(next.run(req).await)
}
