//! Counters the service keeps about itself, and their Prometheus text form. Every telemetry name
//! lives here.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Telemetry {
    pub assignments: AtomicU64,
    pub exposures_stored: AtomicU64,
    pub events_stored: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub events_rejected: AtomicU64,
    pub store_errors: AtomicU64,
    pub config_reloads: AtomicU64,
    pub decisions: AtomicU64,
    pub webhooks_sent: AtomicU64,
    pub webhooks_failed: AtomicU64,
}

impl Telemetry {
    /// The Prometheus exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let rows: [(&str, &str, &AtomicU64); 10] = [
            (
                "rampart_assignments_total",
                "Assignments answered.",
                &self.assignments,
            ),
            (
                "rampart_exposures_stored_total",
                "Exposures written to the store.",
                &self.exposures_stored,
            ),
            (
                "rampart_events_ingested_total",
                "Outcome events stored.",
                &self.events_stored,
            ),
            (
                "rampart_events_duplicate_total",
                "Outcome events skipped as already stored.",
                &self.events_duplicate,
            ),
            (
                "rampart_events_rejected_total",
                "Outcome events refused as invalid.",
                &self.events_rejected,
            ),
            (
                "rampart_store_errors_total",
                "Appends the store refused.",
                &self.store_errors,
            ),
            (
                "rampart_config_reloads_total",
                "Config reloads applied.",
                &self.config_reloads,
            ),
            (
                "rampart_decisions_total",
                "Decisions written to the decision log.",
                &self.decisions,
            ),
            (
                "rampart_webhooks_sent_total",
                "Webhook notifications delivered.",
                &self.webhooks_sent,
            ),
            (
                "rampart_webhooks_failed_total",
                "Webhook notifications given up after retries.",
                &self.webhooks_failed,
            ),
        ];
        for (name, help, v) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        out
    }
}
