//! Progress display for long steps (SRS, keygen, proving): an indicatif spinner per step on a
//! terminal, nothing otherwise (the steps are also `tracing` spans, see `RUST_LOG`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use zkgrid_prover::model::Progress;

/// Draws one spinner with the step name and elapsed time while a step runs, and a summary line
/// when it ends. Disabled when stderr is not a terminal or JSON output was requested.
pub struct Bars {
    enabled: bool,
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Spinners on stderr when it is a terminal and `json` is false.
    pub fn new(json: bool) -> Self {
        Self {
            enabled: !json && std::io::stderr().is_terminal(),
            current: Mutex::new(None),
        }
    }
}

impl Progress for Bars {
    fn begin(&self, step: &'static str, detail: &str) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
            bar.set_style(style);
        }
        bar.set_message(format!("{step} ({detail})"));
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut cur) = self.current.lock() {
            if let Some(old) = cur.replace(bar) {
                old.finish_and_clear();
            }
        }
    }

    fn end(&self, step: &'static str, seconds: f64) {
        if !self.enabled {
            return;
        }
        if let Ok(mut cur) = self.current.lock() {
            if let Some(bar) = cur.take() {
                bar.finish_and_clear();
            }
        }
        eprintln!("  {step}: {seconds:.2}s");
    }
}
