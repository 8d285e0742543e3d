//! The zkgrid service library: the CLI commands (one module each), the REST API ([`api::app`]),
//! the durable job store ([`store::JobStore`], SQLite embedded by default, PostgreSQL for many
//! machines) and the workers that prove jobs ([`worker::Workers`]). The binary in `main.rs`
//! only parses arguments and dispatches here. HTTP and SQL live only in this crate.

pub mod api;
pub mod capability;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod ids;
pub mod metrics;
pub mod output;
pub mod progress;
pub mod ratelimit;
pub mod state;
pub mod store;
pub mod worker;

pub use api::app;
pub use state::{AppState, ServiceConfig};
