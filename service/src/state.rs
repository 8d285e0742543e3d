//! [`AppState`]: what the HTTP handlers and the workers share.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::JobStore;

/// Limits and policies of the service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Requests per second each API key may make on average.
    pub rate_per_second: f64,
    /// Requests an API key may make in a burst.
    pub rate_burst: f64,
    /// Longest time a request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// Attempts a job gets before it fails for good.
    pub max_attempts: u32,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 << 20,
            rate_per_second: 20.0,
            rate_burst: 100.0,
            request_timeout: Duration::from_secs(300),
            max_attempts: 3,
        }
    }
}

/// Shared state of the API and the in-process workers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The durable store.
    pub store: Arc<dyn JobStore>,
    /// The proving engine.
    pub engine: Arc<Engine>,
    /// In-process metrics.
    pub metrics: Arc<Metrics>,
    /// Per-key rate limiter.
    pub limiter: Arc<RateLimiter>,
    /// Wakes an idle in-process worker when a job is enqueued.
    pub wake: Arc<Notify>,
    /// Limits and policies.
    pub config: Arc<ServiceConfig>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.engine)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store` and `engine` with `config`.
    pub fn new(store: Arc<dyn JobStore>, engine: Arc<Engine>, config: ServiceConfig) -> Self {
        Self {
            store,
            engine,
            metrics: Arc::new(Metrics::default()),
            limiter: Arc::new(RateLimiter::new(config.rate_per_second, config.rate_burst)),
            wake: Arc::new(Notify::new()),
            config: Arc::new(config),
        }
    }
}
