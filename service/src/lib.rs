//! The zkgrid service library: the CLI commands (one module each), and later the REST API and
//! workers. The binary in `main.rs` only parses arguments and dispatches here.

pub mod cli;
pub mod commands;
pub mod output;
