//! Counters and gauges the service keeps about itself, and their Prometheus text form (format
//! 0.0.4). Every telemetry name lives here.
//!
//! Per-model and per-variant counters sit in a table of atomic cells compiled from the config
//! (at start and on every reload) and swapped in whole, so the assign path pays one pointer load,
//! two hash lookups and one atomic add: no lock, no allocation. Cells are shared between the old
//! and the new table, so counts survive reloads; a model or variant removed from the config keeps
//! its series (counters never go back).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rampart_core::analysis::provider::Reading;
use rampart_core::analysis::Outcome;
use rampart_core::state::{RolloutState, RolloutStatus};
use rampart_core::{Config, Decision, EntityKind, Millis, Reason, Record};

/// Every assignment reason, in the order of the cells that count them.
const REASONS: [Reason; 8] = [
    Reason::Forced,
    Reason::Holdout,
    Reason::Experiment,
    Reason::Candidate,
    Reason::Control,
    Reason::RolledBack,
    Reason::Completed,
    Reason::Default,
];

/// Every rollout status, each a series of `rampart_rollout_status`.
const STATUSES: [RolloutStatus; 6] = [
    RolloutStatus::Pending,
    RolloutStatus::Running,
    RolloutStatus::AwaitingApproval,
    RolloutStatus::Paused,
    RolloutStatus::RolledBack,
    RolloutStatus::Completed,
];

/// Every gate outcome, each a series of `rampart_gate_verdict`.
const OUTCOMES: [(Outcome, &str); 3] = [
    (Outcome::Pass, "pass"),
    (Outcome::Fail, "fail"),
    (Outcome::Inconclusive, "inconclusive"),
];

fn reason_slot(reason: Reason) -> usize {
    match reason {
        Reason::Forced => 0,
        Reason::Holdout => 1,
        Reason::Experiment => 2,
        Reason::Candidate => 3,
        Reason::Control => 4,
        Reason::RolledBack => 5,
        Reason::Completed => 6,
        Reason::Default => 7,
    }
}

/// The counters of one variant of one model.
#[derive(Debug, Default)]
struct VariantCells {
    assignments: [AtomicU64; REASONS.len()],
    exposures_stored: AtomicU64,
}

#[derive(Debug, Default, Clone)]
struct ModelCells {
    events_ingested: Arc<AtomicU64>,
    variants: HashMap<String, Arc<VariantCells>>,
}

/// The table the request path reads; replaced whole, never edited in place.
#[derive(Debug, Default, Clone)]
struct Cells {
    models: HashMap<String, ModelCells>,
}

impl Cells {
    fn variant(&self, model: &str, variant: &str) -> Option<&VariantCells> {
        self.models.get(model)?.variants.get(variant).map(|v| &**v)
    }
}

/// What `/metrics` reads from live state at the time of the scrape.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Messages waiting in the writer's queue (an exposure, an impression or an event batch each).
    pub writer_queue_depth: usize,
    pub rollouts: Vec<RolloutGauges>,
}

/// One rollout's live state and the controller's last gate verdicts on it.
#[derive(Debug)]
pub struct RolloutGauges {
    pub name: String,
    pub state: RolloutState,
    /// `(gate index, metric, outcome)` of each gate's overall verdict at the last look.
    pub verdicts: Vec<(usize, String, Outcome)>,
}

#[derive(Debug, Default)]
pub struct Telemetry {
    cells: ArcSwap<Cells>,
    /// Serialises table rebuilds (start, reload, and the rare lookup miss).
    rebuild: Mutex<()>,
    pub events_duplicate: AtomicU64,
    pub events_rejected: AtomicU64,
    pub store_errors: AtomicU64,
    pub config_reloads: AtomicU64,
    pub webhooks_sent: AtomicU64,
    pub webhooks_failed: AtomicU64,
    /// Decisions logged, by entity kind and action; decisions are rare, a lock is fine.
    decisions: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Milliseconds from the arrival of the oldest record of the last committed round to its commit.
    ingest_lag_ms: AtomicU64,
    /// Prometheus queries by result: a value, no value (no or several series, not a number),
    /// an error (unreachable, timeout, HTTP or query error).
    provider_queries: [AtomicU64; 3],
    /// The model proxy's series.
    pub proxy: ProxyTelemetry,
    /// The latency of every API request.
    pub http: HttpTelemetry,
}

/// The results of a provider query, each a series of `rampart_provider_queries_total`.
const PROVIDER_RESULTS: [&str; 3] = ["value", "no_value", "error"];

impl Telemetry {
    /// Adds cells for every model and variant of `config`; call before the config is served.
    pub fn register_models(&self, config: &Config) {
        let pairs: Vec<(&str, &str)> = config
            .models
            .iter()
            .flat_map(|m| {
                m.variants
                    .iter()
                    .map(move |v| (m.name.as_str(), v.name.as_str()))
            })
            .collect();
        let models: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
        self.register(&models, &pairs);
    }

    fn register(&self, models: &[&str], pairs: &[(&str, &str)]) {
        let _guard = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = Cells::clone(&self.cells.load());
        for m in models {
            next.models.entry((*m).to_string()).or_default();
        }
        for (m, v) in pairs {
            next.models
                .entry((*m).to_string())
                .or_default()
                .variants
                .entry((*v).to_string())
                .or_default();
        }
        self.cells.store(Arc::new(next));
    }

    /// Runs `f` on the cells of `(model, variant)`, adding them first if they are missing (only
    /// when a request outran a reload; never on the usual path).
    fn with_variant(&self, model: &str, variant: &str, f: impl FnOnce(&VariantCells)) {
        if let Some(v) = self.cells.load().variant(model, variant) {
            return f(v);
        }
        self.register(&[model], &[(model, variant)]);
        if let Some(v) = self.cells.load().variant(model, variant) {
            f(v);
        }
    }

    /// Counts one assignment answered.
    pub fn count_assignment(&self, model: &str, variant: &str, reason: Reason) {
        self.with_variant(model, variant, |v| {
            v.assignments[reason_slot(reason)].fetch_add(1, Ordering::Relaxed);
        });
    }

    /// Counts what a committed round stored: exposures by model and variant, and the events that
    /// were new (`fresh`) by model.
    pub fn count_stored(&self, records: &[Record], fresh: &[bool]) {
        for (rec, new) in records.iter().zip(fresh) {
            match rec {
                Record::Exposure(e) if *new => self.with_variant(&e.model, &e.variant, |v| {
                    v.exposures_stored.fetch_add(1, Ordering::Relaxed);
                }),
                Record::Event(e) if *new => {
                    let found = self
                        .cells
                        .load()
                        .models
                        .get(&e.model)
                        .map(|m| m.events_ingested.clone());
                    let cell = found.unwrap_or_else(|| {
                        self.register(&[&e.model], &[]);
                        self.cells.load().models[&e.model].events_ingested.clone()
                    });
                    cell.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }

    /// Counts one provider query by what came back.
    pub fn count_provider_reading(&self, reading: &Reading) {
        let slot = match reading {
            Reading::Value { .. } => 0,
            Reading::NoValue { .. } => 1,
            Reading::Error { .. } => 2,
        };
        self.provider_queries[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts decisions written to the decision log.
    pub fn count_decisions(&self, kind: EntityKind, decisions: &[Decision]) {
        let mut map = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        for d in decisions {
            *map.entry((kind.as_str(), d.action.clone())).or_insert(0) += 1;
        }
    }

    /// Assignments answered, over every model, variant and reason.
    pub fn assignments_total(&self) -> u64 {
        self.sum_variants(|v| {
            v.assignments
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum()
        })
    }

    /// Exposures stored, over every model and variant.
    pub fn exposures_stored_total(&self) -> u64 {
        self.sum_variants(|v| v.exposures_stored.load(Ordering::Relaxed))
    }

    /// Outcome events stored, over every model.
    pub fn events_ingested_total(&self) -> u64 {
        let cells = self.cells.load();
        cells
            .models
            .values()
            .map(|m| m.events_ingested.load(Ordering::Relaxed))
            .sum()
    }

    fn sum_variants(&self, count: impl Fn(&VariantCells) -> u64) -> u64 {
        let cells = self.cells.load();
        cells
            .models
            .values()
            .flat_map(|m| m.variants.values())
            .map(|v| count(v))
            .sum()
    }

    /// Records the lag of a committed round: `committed_at` minus the arrival of its oldest record.
    pub fn set_ingest_lag(&self, oldest_arrival: Millis, committed_at: Millis) {
        let lag = committed_at.saturating_sub(oldest_arrival).max(0) as u64;
        self.ingest_lag_ms.store(lag, Ordering::Relaxed);
    }

    /// The Prometheus exposition of every counter and gauge.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let cells = self.cells.load();
        let mut models: Vec<(&String, &ModelCells)> = cells.models.iter().collect();
        models.sort_by_key(|(name, _)| *name);
        let variants = || {
            models.iter().flat_map(|(m, cells)| {
                let mut vs: Vec<(&String, &Arc<VariantCells>)> = cells.variants.iter().collect();
                vs.sort_by_key(|(name, _)| *name);
                vs.into_iter()
                    .map(move |(v, c)| (m.as_str(), v.as_str(), c))
            })
        };

        header(
            &mut out,
            "rampart_assignments_total",
            "Assignments answered, by model, variant and reason.",
            "counter",
        );
        for (m, v, c) in variants() {
            for (reason, cell) in REASONS.iter().zip(&c.assignments) {
                sample(
                    &mut out,
                    "rampart_assignments_total",
                    &[("model", m), ("variant", v), ("reason", reason.as_str())],
                    cell.load(Ordering::Relaxed),
                );
            }
        }
        header(
            &mut out,
            "rampart_exposures_stored_total",
            "Exposures written to the store, by model and variant.",
            "counter",
        );
        for (m, v, c) in variants() {
            sample(
                &mut out,
                "rampart_exposures_stored_total",
                &[("model", m), ("variant", v)],
                c.exposures_stored.load(Ordering::Relaxed),
            );
        }
        header(
            &mut out,
            "rampart_events_ingested_total",
            "Outcome events stored, by model.",
            "counter",
        );
        for (m, c) in &models {
            sample(
                &mut out,
                "rampart_events_ingested_total",
                &[("model", m)],
                c.events_ingested.load(Ordering::Relaxed),
            );
        }

        let plain: [(&str, &str, &AtomicU64); 6] = [
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
        for (name, help, v) in plain {
            header(&mut out, name, help, "counter");
            sample(&mut out, name, &[], v.load(Ordering::Relaxed));
        }

        header(
            &mut out,
            "rampart_provider_queries_total",
            "Queries of metrics providers, by provider and result (value, no_value, error).",
            "counter",
        );
        for (result, cell) in PROVIDER_RESULTS.iter().zip(&self.provider_queries) {
            sample(
                &mut out,
                "rampart_provider_queries_total",
                &[("provider", "prometheus"), ("result", result)],
                cell.load(Ordering::Relaxed),
            );
        }
        header(
            &mut out,
            "rampart_provider_errors_total",
            "Provider queries that failed (unreachable, timeout, HTTP or query error), by provider.",
            "counter",
        );
        sample(
            &mut out,
            "rampart_provider_errors_total",
            &[("provider", "prometheus")],
            self.provider_queries[2].load(Ordering::Relaxed),
        );

        header(
            &mut out,
            "rampart_decisions_total",
            "Decisions written to the decision log, by entity kind and action.",
            "counter",
        );
        for ((kind, action), n) in self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            sample(
                &mut out,
                "rampart_decisions_total",
                &[("entity_kind", kind), ("action", action)],
                *n,
            );
        }

        header(
            &mut out,
            "rampart_ingest_lag_seconds",
            "Seconds from the arrival of the oldest record of the last committed writer round to its commit.",
            "gauge",
        );
        let lag_ms = self.ingest_lag_ms.load(Ordering::Relaxed);
        sample(
            &mut out,
            "rampart_ingest_lag_seconds",
            &[],
            lag_ms as f64 / 1000.0,
        );
        header(
            &mut out,
            "rampart_writer_queue_depth",
            "Messages waiting in the writer queue (an exposure, an impression or an event batch each).",
            "gauge",
        );
        sample(
            &mut out,
            "rampart_writer_queue_depth",
            &[],
            gauges.writer_queue_depth,
        );

        header(
            &mut out,
            "rampart_rollout_stage",
            "Current stage of each rollout, 1-based.",
            "gauge",
        );
        for r in &gauges.rollouts {
            sample(
                &mut out,
                "rampart_rollout_stage",
                &[("rollout", &r.name)],
                r.state.stage + 1,
            );
        }
        header(
            &mut out,
            "rampart_rollout_traffic_percent",
            "Percent of the model's traffic on each rollout's candidate.",
            "gauge",
        );
        for r in &gauges.rollouts {
            sample(
                &mut out,
                "rampart_rollout_traffic_percent",
                &[("rollout", &r.name)],
                r.state.traffic,
            );
        }
        header(
            &mut out,
            "rampart_rollout_status",
            "1 for each rollout's current status, 0 for the others.",
            "gauge",
        );
        for r in &gauges.rollouts {
            for status in STATUSES {
                sample(
                    &mut out,
                    "rampart_rollout_status",
                    &[("rollout", &r.name), ("status", status.as_str())],
                    u8::from(r.state.status == status),
                );
            }
        }
        header(
            &mut out,
            "rampart_gate_verdict",
            "1 for the outcome of each gate at the controller's last look, 0 for the others.",
            "gauge",
        );
        for r in &gauges.rollouts {
            for (gate, metric, outcome) in &r.verdicts {
                let gate = gate.to_string();
                for (o, label) in OUTCOMES {
                    sample(
                        &mut out,
                        "rampart_gate_verdict",
                        &[
                            ("rollout", &r.name),
                            ("gate", &gate),
                            ("metric", metric),
                            ("outcome", label),
                        ],
                        u8::from(*outcome == o),
                    );
                }
            }
        }
        self.proxy.render(&mut out);
        self.http.render(&mut out);
        render_build_info(&mut out);
        render_process(&mut out, &read_process());
        out
    }
}

/// Upper bounds (seconds) of `rampart_proxy_request_duration_seconds`' buckets.
const PROXY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How a proxied call ended, each a `class` of `rampart_proxy_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallClass {
    /// The upstream answered with this status.
    Status(u16),
    Timeout,
    Unreachable,
}

const CLASSES: [&str; 7] = ["1xx", "2xx", "3xx", "4xx", "5xx", "timeout", "unreachable"];

impl CallClass {
    fn slot(self) -> usize {
        match self {
            CallClass::Status(s) => usize::from((s / 100).clamp(1, 5)) - 1,
            CallClass::Timeout => 5,
            CallClass::Unreachable => 6,
        }
    }
}

/// Picks one counter of a variant's proxy cells.
type CellOf = fn(&ProxyCells) -> &AtomicU64;

/// The counters of one variant of one proxied model.
#[derive(Debug, Default)]
struct ProxyCells {
    /// Cumulative counts per bucket of [`PROXY_BUCKETS`].
    buckets: [AtomicU64; PROXY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    classes: [AtomicU64; CLASSES.len()],
    retries: AtomicU64,
    shadow_calls: AtomicU64,
    shadow_errors: AtomicU64,
    shadow_diffs: AtomicU64,
    shadow_dropped: AtomicU64,
}

/// The proxy's series, by model and variant. Cells appear on a variant's first call; the lock is
/// a read lock except then.
#[derive(Debug, Default)]
pub struct ProxyTelemetry {
    cells: std::sync::RwLock<BTreeMap<(String, String), Arc<ProxyCells>>>,
}

impl ProxyTelemetry {
    fn cells(&self, model: &str, variant: &str) -> Arc<ProxyCells> {
        let key = (model.to_string(), variant.to_string());
        if let Some(c) = self
            .cells
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return c.clone();
        }
        self.cells
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }

    /// Counts one call of `variant` answered to a caller (or failed), with its latency.
    pub fn count_call(&self, model: &str, variant: &str, class: CallClass, seconds: f64) {
        let c = self.cells(model, variant);
        c.classes[class.slot()].fetch_add(1, Ordering::Relaxed);
        c.count.fetch_add(1, Ordering::Relaxed);
        c.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        for (bound, cell) in PROXY_BUCKETS.iter().zip(&c.buckets) {
            if seconds <= *bound {
                cell.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a call of `variant` that failed and was sent to the baseline.
    pub fn count_retry(&self, model: &str, variant: &str) {
        self.cells(model, variant)
            .retries
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a shadow call of `variant`: made, failed, or with an output unlike the baseline's.
    pub fn count_shadow(&self, model: &str, variant: &str, error: bool, differs: bool) {
        let c = self.cells(model, variant);
        c.shadow_calls.fetch_add(1, Ordering::Relaxed);
        c.shadow_errors
            .fetch_add(u64::from(error), Ordering::Relaxed);
        c.shadow_diffs
            .fetch_add(u64::from(differs), Ordering::Relaxed);
    }

    /// Counts a shadow copy not sent because the model's shadow calls in flight were at the limit.
    pub fn count_shadow_dropped(&self, model: &str, variant: &str) {
        self.cells(model, variant)
            .shadow_dropped
            .fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        let name = "rampart_proxy_request_duration_seconds";
        header(
            out,
            name,
            "Time from forwarding a call to the variant's response headers (or its failure), by model and variant.",
            "histogram",
        );
        for ((m, v), c) in cells.iter() {
            for (bound, cell) in PROXY_BUCKETS.iter().zip(&c.buckets) {
                let le = bound.to_string();
                sample(
                    out,
                    &format!("{name}_bucket"),
                    &[("model", m), ("variant", v), ("le", &le)],
                    cell.load(Ordering::Relaxed),
                );
            }
            let count = c.count.load(Ordering::Relaxed);
            sample(
                out,
                &format!("{name}_bucket"),
                &[("model", m), ("variant", v), ("le", "+Inf")],
                count,
            );
            sample(
                out,
                &format!("{name}_sum"),
                &[("model", m), ("variant", v)],
                c.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            );
            sample(
                out,
                &format!("{name}_count"),
                &[("model", m), ("variant", v)],
                count,
            );
        }
        header(
            out,
            "rampart_proxy_requests_total",
            "Proxied calls by model, variant and outcome class (a status class, timeout or unreachable).",
            "counter",
        );
        for ((m, v), c) in cells.iter() {
            for (class, cell) in CLASSES.iter().zip(&c.classes) {
                sample(
                    out,
                    "rampart_proxy_requests_total",
                    &[("model", m), ("variant", v), ("class", class)],
                    cell.load(Ordering::Relaxed),
                );
            }
        }
        let counters: [(&str, &str, CellOf); 5] = [
            (
                "rampart_proxy_retries_total",
                "Calls of a variant that failed and were answered by the baseline instead.",
                |c| &c.retries,
            ),
            (
                "rampart_proxy_shadow_calls_total",
                "Shadow copies sent to a variant.",
                |c| &c.shadow_calls,
            ),
            (
                "rampart_proxy_shadow_errors_total",
                "Shadow copies that failed, timed out or got a 5xx.",
                |c| &c.shadow_errors,
            ),
            (
                "rampart_proxy_shadow_diffs_total",
                "Shadow outputs that differed from the baseline's.",
                |c| &c.shadow_diffs,
            ),
            (
                "rampart_proxy_shadow_dropped_total",
                "Shadow copies not sent because the model's shadow_limit calls were in flight.",
                |c| &c.shadow_dropped,
            ),
        ];
        for (name, help, cell) in counters {
            header(out, name, help, "counter");
            for ((m, v), c) in cells.iter() {
                sample(
                    out,
                    name,
                    &[("model", m), ("variant", v)],
                    cell(c).load(Ordering::Relaxed),
                );
            }
        }
    }
}

/// Upper bounds (seconds) of `rampart_http_request_duration_seconds`' buckets.
const HTTP_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Status classes, each a `status` of `rampart_http_request_duration_seconds`.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One histogram of `rampart_http_request_duration_seconds`.
#[derive(Debug, Default)]
struct HttpCells {
    buckets: [AtomicU64; HTTP_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// Method, route template and status class of one histogram.
type HttpKey = (axum::http::Method, Arc<str>, usize);

/// API request latencies by method, route template (never the raw path, so the series are
/// bounded by the routes) and status class. A histogram appears on its first request; the lock
/// is a read lock except then.
#[derive(Debug, Default)]
pub struct HttpTelemetry {
    cells: std::sync::RwLock<HashMap<HttpKey, Arc<HttpCells>>>,
}

impl HttpTelemetry {
    /// Counts one answered request.
    pub fn observe(
        &self,
        method: &axum::http::Method,
        route: Arc<str>,
        status: axum::http::StatusCode,
        elapsed: std::time::Duration,
    ) {
        let class = usize::from((status.as_u16() / 100).clamp(1, 5)) - 1;
        let key = (method.clone(), route, class);
        let found = self
            .cells
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let c = found.unwrap_or_else(|| {
            self.cells
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default()
                .clone()
        });
        let seconds = elapsed.as_secs_f64();
        c.count.fetch_add(1, Ordering::Relaxed);
        c.sum_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        for (bound, cell) in HTTP_BUCKETS.iter().zip(&c.buckets) {
            if seconds <= *bound {
                cell.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn render(&self, out: &mut String) {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<(&HttpKey, &Arc<HttpCells>)> = cells.iter().collect();
        rows.sort_by(|(a, _), (b, _)| (a.0.as_str(), &a.1, a.2).cmp(&(b.0.as_str(), &b.1, b.2)));
        let name = "rampart_http_request_duration_seconds";
        header(
            out,
            name,
            "Time from a request's headers to its response headers, by method, route template and status class.",
            "histogram",
        );
        for ((method, route, class), c) in rows {
            let base = [
                ("method", method.as_str()),
                ("route", &**route),
                ("status", STATUS_CLASSES[*class]),
            ];
            let with_le = |le: &str| -> Vec<(&str, String)> {
                base.iter()
                    .map(|(k, v)| (*k, v.to_string()))
                    .chain([("le", le.to_string())])
                    .collect()
            };
            for (bound, cell) in HTTP_BUCKETS.iter().zip(&c.buckets) {
                let l = with_le(&bound.to_string());
                sample_owned(
                    out,
                    &format!("{name}_bucket"),
                    &l,
                    cell.load(Ordering::Relaxed),
                );
            }
            let count = c.count.load(Ordering::Relaxed);
            sample_owned(out, &format!("{name}_bucket"), &with_le("+Inf"), count);
            let sum = c.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            sample(out, &format!("{name}_sum"), &base, sum);
            sample(out, &format!("{name}_count"), &base, count);
        }
    }
}

fn sample_owned(
    out: &mut String,
    name: &str,
    labels: &[(&str, String)],
    value: impl std::fmt::Display,
) {
    let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sample(out, name, &refs, value);
}

/// The rustc that built this binary (set by the build script) and the commit it was built from
/// (`RAMPART_COMMIT` at build time), when known.
const RUSTC_VERSION: Option<&str> = option_env!("RAMPART_RUSTC_VERSION");
const COMMIT: Option<&str> = option_env!("RAMPART_COMMIT");

fn render_build_info(out: &mut String) {
    header(
        out,
        "rampart_build_info",
        "Always 1; the labels say which build is running.",
        "gauge",
    );
    let mut labels = vec![("version", env!("CARGO_PKG_VERSION"))];
    if let Some(c) = COMMIT.filter(|c| !c.is_empty()) {
        labels.push(("commit", c));
    }
    if let Some(r) = RUSTC_VERSION.filter(|r| !r.is_empty()) {
        labels.push(("rustc", r));
    }
    sample(out, "rampart_build_info", &labels, 1);
}

/// What the kernel says about this process; a field is `None` where it could not be read (on a
/// system without `/proc`, all of them).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

/// Clock ticks per second of `/proc/self/stat`'s times: 100 on every Linux architecture in use
/// (the kernel's USER_HZ; procfs readers such as Prometheus' own assume the same).
const USER_HZ: f64 = 100.0;

fn read_process() -> ProcessStats {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let boot = std::fs::read_to_string("/proc/stat").ok();
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let limits = std::fs::read_to_string("/proc/self/limits").ok();
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    parse_process(
        stat.as_deref(),
        boot.as_deref(),
        status.as_deref(),
        limits.as_deref(),
        open_fds,
    )
}

/// Reads the process figures out of the text of `/proc/self/stat`, `/proc/stat`,
/// `/proc/self/status` and `/proc/self/limits`.
pub fn parse_process(
    stat: Option<&str>,
    boot: Option<&str>,
    status: Option<&str>,
    limits: Option<&str>,
    open_fds: Option<u64>,
) -> ProcessStats {
    // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    let fields: Vec<&str> = stat
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // `fields[0]` is field 3 (state); utime is field 14, stime 15, starttime 22, vsize 23.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let cpu_seconds = match (field(14), field(15)) {
        (Some(u), Some(s)) => Some((u + s) as f64 / USER_HZ),
        _ => None,
    };
    let boot_time = boot.and_then(|b| {
        b.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    let start_time_seconds = match (boot_time, field(22)) {
        (Some(b), Some(t)) => Some(b as f64 + t as f64 / USER_HZ),
        _ => None,
    };
    let resident_bytes = status.and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let max_fds = limits.and_then(|l| {
        l.lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    });
    ProcessStats {
        cpu_seconds,
        resident_bytes,
        virtual_bytes: field(23),
        open_fds,
        max_fds,
        start_time_seconds,
    }
}

fn render_process(out: &mut String, p: &ProcessStats) {
    let rows: [(&str, &str, &str, Option<f64>); 6] = [
        (
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            "counter",
            p.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            "gauge",
            p.resident_bytes.map(|v| v as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            "gauge",
            p.virtual_bytes.map(|v| v as f64),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            "gauge",
            p.open_fds.map(|v| v as f64),
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            "gauge",
            p.max_fds.map(|v| v as f64),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            "gauge",
            p.start_time_seconds,
        ),
    ];
    for (name, help, kind, value) in rows {
        if let Some(v) = value {
            header(out, name, help, kind);
            sample(out, name, &[], v);
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and line feed, as the text format requires.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "x_total", &[("model", "a\"b\\c\nd")], 3);
        assert_eq!(out, "x_total{model=\"a\\\"b\\\\c\\nd\"} 3\n");
    }

    #[test]
    fn assignments_count_by_reason_and_survive_a_new_table() {
        let t = Telemetry::default();
        t.count_assignment("m", "v1", Reason::Control);
        t.count_assignment("m", "v1", Reason::Control);
        t.register(&["m", "n"], &[("m", "v1"), ("n", "w")]);
        t.count_assignment("m", "v1", Reason::Candidate);
        let text = t.render(&Gauges::default());
        assert!(text.contains(
            "rampart_assignments_total{model=\"m\",variant=\"v1\",reason=\"control\"} 2\n"
        ));
        assert!(text.contains(
            "rampart_assignments_total{model=\"m\",variant=\"v1\",reason=\"candidate\"} 1\n"
        ));
        assert!(text.contains(
            "rampart_assignments_total{model=\"n\",variant=\"w\",reason=\"default\"} 0\n"
        ));
    }

    #[test]
    fn provider_queries_count_by_result_and_errors_apart() {
        let t = Telemetry::default();
        t.count_provider_reading(&Reading::Value { value: 1.0 });
        t.count_provider_reading(&Reading::Error {
            message: "down".into(),
        });
        t.count_provider_reading(&Reading::Error {
            message: "down".into(),
        });
        let text = t.render(&Gauges::default());
        assert!(text.contains(
            "rampart_provider_queries_total{provider=\"prometheus\",result=\"value\"} 1\n"
        ));
        assert!(text.contains(
            "rampart_provider_queries_total{provider=\"prometheus\",result=\"no_value\"} 0\n"
        ));
        assert!(text.contains("rampart_provider_errors_total{provider=\"prometheus\"} 2\n"));
    }

    #[test]
    fn proxy_latency_is_a_cumulative_histogram() {
        let t = Telemetry::default();
        t.proxy.count_call("m", "v1", CallClass::Status(200), 0.003);
        t.proxy.count_call("m", "v1", CallClass::Status(503), 0.2);
        t.proxy.count_call("m", "v1", CallClass::Timeout, 5.0);
        t.proxy.count_retry("m", "v2");
        let text = t.render(&Gauges::default());
        let has = |line: &str| assert!(text.contains(line), "{line} in\n{text}");
        has("rampart_proxy_request_duration_seconds_bucket{model=\"m\",variant=\"v1\",le=\"0.0025\"} 0\n");
        has("rampart_proxy_request_duration_seconds_bucket{model=\"m\",variant=\"v1\",le=\"0.005\"} 1\n");
        has("rampart_proxy_request_duration_seconds_bucket{model=\"m\",variant=\"v1\",le=\"0.25\"} 2\n");
        has("rampart_proxy_request_duration_seconds_bucket{model=\"m\",variant=\"v1\",le=\"5\"} 3\n");
        has("rampart_proxy_request_duration_seconds_bucket{model=\"m\",variant=\"v1\",le=\"+Inf\"} 3\n");
        has("rampart_proxy_request_duration_seconds_sum{model=\"m\",variant=\"v1\"} 5.203\n");
        has("rampart_proxy_requests_total{model=\"m\",variant=\"v1\",class=\"5xx\"} 1\n");
        has("rampart_proxy_requests_total{model=\"m\",variant=\"v1\",class=\"timeout\"} 1\n");
        has("rampart_proxy_retries_total{model=\"m\",variant=\"v2\"} 1\n");
    }

    #[test]
    fn ingest_lag_is_never_negative() {
        let t = Telemetry::default();
        t.set_ingest_lag(1_500, 4_000);
        assert!(t
            .render(&Gauges::default())
            .contains("rampart_ingest_lag_seconds 2.5\n"));
        t.set_ingest_lag(5_000, 4_000);
        assert!(t
            .render(&Gauges::default())
            .contains("rampart_ingest_lag_seconds 0\n"));
    }

    #[test]
    fn process_figures_are_read_from_proc_text() {
        // A command name with a space and a parenthesis: fields count from the last ')'.
        let mut fields = vec!["0"; 50];
        fields[0] = "S"; // field 3
        fields[14 - 3] = "250"; // utime
        fields[15 - 3] = "50"; // stime
        fields[22 - 3] = "12345"; // starttime, ticks after boot
        fields[23 - 3] = "1048576"; // vsize
        let stat = format!("4242 (rampart (x) y) {}", fields.join(" "));
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let status = "Name:\trampart\nVmRSS:\t   2048 kB\nThreads:\t4\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n";
        let p = parse_process(
            Some(&stat),
            Some(boot),
            Some(status),
            Some(limits),
            Some(17),
        );
        assert_eq!(
            p,
            ProcessStats {
                cpu_seconds: Some(3.0),
                resident_bytes: Some(2048 * 1024),
                virtual_bytes: Some(1_048_576),
                open_fds: Some(17),
                max_fds: Some(20_000),
                start_time_seconds: Some(1_700_000_000.0 + 123.45),
            }
        );
        // Without /proc every figure is absent, and so is its series.
        let none = parse_process(None, None, None, None, None);
        assert_eq!(none, ProcessStats::default());
        let mut out = String::new();
        render_process(&mut out, &none);
        assert_eq!(out, "");
    }

    #[test]
    fn request_latency_counts_by_method_route_and_status_class() {
        let t = HttpTelemetry::default();
        let get = axum::http::Method::GET;
        let route: Arc<str> = Arc::from("/v1/rollouts/{name}");
        let ms = std::time::Duration::from_millis;
        t.observe(&get, route.clone(), axum::http::StatusCode::OK, ms(3));
        t.observe(
            &get,
            route.clone(),
            axum::http::StatusCode::NO_CONTENT,
            ms(30),
        );
        t.observe(&get, route, axum::http::StatusCode::NOT_FOUND, ms(1));
        let mut out = String::new();
        t.render(&mut out);
        let ok = "method=\"GET\",route=\"/v1/rollouts/{name}\",status=\"2xx\"";
        assert!(
            out.contains(&format!(
                "rampart_http_request_duration_seconds_count{{{ok}}} 2\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "rampart_http_request_duration_seconds_bucket{{{ok},le=\"0.005\"}} 1\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "rampart_http_request_duration_seconds_bucket{{{ok},le=\"0.05\"}} 2\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "rampart_http_request_duration_seconds_sum{{{ok}}} 0.033\n"
            )),
            "{out}"
        );
        assert!(out.contains("status=\"4xx\"} 1\n"), "{out}");
    }
}
