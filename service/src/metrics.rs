//! Prometheus metrics kept in process: the prove-seconds histogram and job outcome counters.
//! Job counts by state and the queue depth are read from the store at scrape time, so they are
//! right for every process that shares the database.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::store::JobState;

/// Upper bounds (seconds) of the prove-time histogram buckets.
pub const PROVE_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// In-process metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    bucket_counts: [AtomicU64; PROVE_BUCKETS.len()],
    prove_count: AtomicU64,
    prove_sum: Mutex<f64>,
    jobs_succeeded: AtomicU64,
    jobs_failed: AtomicU64,
    attempts_retried: AtomicU64,
}

impl Metrics {
    /// Records one proof's `create_proof` time.
    pub fn observe_prove(&self, seconds: f64) {
        for (bound, count) in PROVE_BUCKETS.iter().zip(&self.bucket_counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.prove_count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = self.prove_sum.lock() {
            *s += seconds;
        }
    }

    /// Records how an attempt ended in this process.
    pub fn observe_outcome(&self, state: JobState) {
        let c = match state {
            JobState::Succeeded => &self.jobs_succeeded,
            JobState::Failed => &self.jobs_failed,
            JobState::Queued => &self.attempts_retried,
            JobState::Running => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with `counts` (jobs by state, from the store).
    pub fn render(&self, counts: &[(JobState, u64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP zkgrid_jobs Jobs by state (all tenants).");
        let _ = writeln!(out, "# TYPE zkgrid_jobs gauge");
        for (state, n) in counts {
            let _ = writeln!(out, "zkgrid_jobs{{state=\"{}\"}} {n}", state.as_str());
        }
        let depth = counts
            .iter()
            .find(|(s, _)| *s == JobState::Queued)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "# HELP zkgrid_queue_depth Jobs waiting for a worker.");
        let _ = writeln!(out, "# TYPE zkgrid_queue_depth gauge");
        let _ = writeln!(out, "zkgrid_queue_depth {depth}");
        let _ = writeln!(
            out,
            "# HELP zkgrid_prove_seconds Time spent in create_proof per proof (this process)."
        );
        let _ = writeln!(out, "# TYPE zkgrid_prove_seconds histogram");
        for (bound, count) in PROVE_BUCKETS.iter().zip(&self.bucket_counts) {
            let _ = writeln!(
                out,
                "zkgrid_prove_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let total = self.prove_count.load(Ordering::Relaxed);
        let sum = self.prove_sum.lock().map(|s| *s).unwrap_or(0.0);
        let _ = writeln!(out, "zkgrid_prove_seconds_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "zkgrid_prove_seconds_sum {sum}");
        let _ = writeln!(out, "zkgrid_prove_seconds_count {total}");
        let _ = writeln!(
            out,
            "# HELP zkgrid_job_attempts_total Job attempts finished by this process, by outcome."
        );
        let _ = writeln!(out, "# TYPE zkgrid_job_attempts_total counter");
        for (outcome, c) in [
            ("succeeded", &self.jobs_succeeded),
            ("failed", &self.jobs_failed),
            ("retried", &self.attempts_retried),
        ] {
            let _ = writeln!(
                out,
                "zkgrid_job_attempts_total{{outcome=\"{outcome}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_prove(0.3);
        m.observe_prove(7.0);
        let text = m.render(&[(JobState::Queued, 3), (JobState::Running, 1)]);
        assert!(text.contains("zkgrid_prove_seconds_bucket{le=\"0.25\"} 0"));
        assert!(text.contains("zkgrid_prove_seconds_bucket{le=\"0.5\"} 1"));
        assert!(text.contains("zkgrid_prove_seconds_bucket{le=\"10\"} 2"));
        assert!(text.contains("zkgrid_prove_seconds_count 2"));
        assert!(text.contains("zkgrid_queue_depth 3"));
        assert!(text.contains("zkgrid_jobs{state=\"running\"} 1"));
    }
}
