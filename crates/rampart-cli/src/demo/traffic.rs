//! The demo's simulated users: worker threads that visit the shop on the demo's clock, ask rampart
//! which version of each model serves them, call that version's toy server (or rampart's model
//! proxy, for the fraud scorer), and report what happened as outcome events.
//!
//! One visit: the recommender shows a list (clicks, purchases with revenue); often a search, whose
//! results are an interleaved list of all three rankers while the bake-off runs (`/v1/interleave`,
//! clicks carry the impression id and item) and the assigned ranker's list afterwards; and usually
//! a payment, which the fraud scorer judges. Payments go through rampart's model proxy
//! (`/v1/predict/fraud-scorer/score`), which assigns, forwards and records the call's latency and
//! errors; the traffic reports only whether a fraudulent payment was caught.
//!
//! Visits arrive at a rate that follows the time of day on the demo's clock (a quiet night, a busy
//! evening); when the machine cannot keep up, the workers go as fast as it allows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart_core::Millis;
use rampart_stats::Rng;
use serde_json::{json, Value};

use super::toy::{self, Endpoints};

/// The bake-off's experiment, which `/v1/interleave` serves while it runs.
pub const BAKEOFF: &str = "search-bakeoff";
/// Rankers of the bake-off, in the experiment's order.
const RANKERS: [&str; 3] = ["bm25", "neural", "popular"];
/// Results shown per search.
const RESULTS_SHOWN: u64 = 10;

/// Relative traffic per hour of the day (0 = midnight): a quiet night, a busy evening.
const DAILY_CYCLE: [f64; 24] = [
    0.45, 0.32, 0.24, 0.2, 0.2, 0.24, 0.34, 0.48, 0.62, 0.72, 0.78, 0.84, 0.9, 0.86, 0.8, 0.8,
    0.84, 0.9, 0.96, 1.0, 1.0, 0.9, 0.74, 0.58,
];

/// What the traffic looks like.
#[derive(Debug, Clone)]
pub struct Plan {
    /// rampart's base URL.
    pub rampart: String,
    pub endpoints: Endpoints,
    pub seed: u64,
    /// Distinct users who may visit.
    pub users: u64,
    /// Visits per demo hour at the busiest time of day.
    pub peak_visits_per_hour: f64,
    pub workers: usize,
    /// Visits per round trip of a worker (one assign batch, one event batch).
    pub batch: usize,
}

/// Counters the terminal shows.
#[derive(Debug, Default)]
pub struct Stats {
    pub visits: AtomicU64,
    pub payments: AtomicU64,
    pub searches: AtomicU64,
    pub events: AtomicU64,
    /// Calls to rampart that failed (not toy errors, which are part of the story).
    pub failures: AtomicU64,
    pub last_failure: Mutex<Option<String>>,
}

impl Stats {
    fn failed(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
    }
}

/// Running traffic; [`Traffic::stop`] ends it.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    pub stats: Arc<Stats>,
}

impl Traffic {
    /// Stops every worker after its current round trip.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// Starts the workers. `now` is the demo's clock.
pub fn start(plan: Plan, now: fn() -> Millis) -> Traffic {
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::default());
    let pacer = Arc::new(Pacer::new(now(), plan.peak_visits_per_hour));
    let shared = Arc::new(SharedState {
        plan,
        bakeoff_over: AtomicBool::new(false),
        now,
    });
    let workers = (0..shared.plan.workers)
        .map(|w| {
            let (stop, stats, pacer, shared) =
                (stop.clone(), stats.clone(), pacer.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("demo-traffic-{w}"))
                .spawn(move || {
                    let mut worker = Worker::new(w, &shared, &stats);
                    while !stop.load(Ordering::Acquire) {
                        let due = pacer.claim((shared.now)(), shared.plan.batch as u64);
                        if due == 0 {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        worker.round(due as usize);
                    }
                })
                .expect("a thread can be spawned")
        })
        .collect();
    Traffic {
        stop,
        workers,
        stats,
    }
}

/// Hands out visits as they fall due on the demo's clock.
struct Pacer {
    peak: f64,
    state: Mutex<PacerState>,
}

struct PacerState {
    last: Millis,
    /// Visits due so far, fractional.
    due: f64,
    claimed: u64,
}

impl Pacer {
    fn new(now: Millis, peak: f64) -> Pacer {
        Pacer {
            peak,
            state: Mutex::new(PacerState {
                last: now,
                due: 0.0,
                claimed: 0,
            }),
        }
    }

    /// Up to `most` visits that are due at `now`.
    fn claim(&self, now: Millis, most: u64) -> u64 {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now > s.last {
            s.due += visits_between(s.last, now, self.peak);
            s.last = now;
        }
        // A machine that falls far behind does not owe the backlog: it goes on at what it can do.
        let backlog = (s.due - s.claimed as f64).max(0.0);
        let cap = 20.0 * most as f64;
        if backlog > cap {
            s.due = s.claimed as f64 + cap;
        }
        let take = ((s.due - s.claimed as f64).floor().max(0.0) as u64).min(most);
        s.claimed += take;
        take
    }
}

/// Relative traffic at a moment of the demo's clock (UTC hour of the day), interpolated.
pub fn cycle_at(ts: Millis) -> f64 {
    let hours = ts.rem_euclid(86_400_000) as f64 / 3_600_000.0;
    let h = hours.floor() as usize % 24;
    let frac = hours - hours.floor();
    DAILY_CYCLE[h] * (1.0 - frac) + DAILY_CYCLE[(h + 1) % 24] * frac
}

/// Visits expected between two moments at `peak` visits per hour (midpoint rule; moments a
/// worker apart are milliseconds to minutes of demo time).
pub fn visits_between(from: Millis, to: Millis, peak: f64) -> f64 {
    let mid = from + (to - from) / 2;
    peak * cycle_at(mid) * (to - from) as f64 / 3_600_000.0
}

struct SharedState {
    plan: Plan,
    /// The bake-off stopped: searches are assigned like any other model.
    bakeoff_over: AtomicBool,
    now: fn() -> Millis,
}

/// One payment at checkout.
#[derive(Debug, Clone)]
pub struct Payment {
    pub id: String,
    pub fraud: bool,
    pub signal: f64,
}

/// The fraud scorer's answer to one payment: `None` when the call failed and the payment went
/// through unscored.
type Flagged = Option<bool>;

/// A worker's HTTP agent: calls to rampart, payments through its model proxy, and the toy-call
/// bookkeeping the directly called models share.
pub struct Client {
    agent: ureq::Agent,
    rampart: String,
}

/// A call to rampart that did not succeed.
#[derive(Debug)]
struct CallError {
    /// The HTTP status, when rampart answered.
    status: Option<u16>,
    message: String,
}

impl Client {
    fn post(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let url = format!("{}{path}", self.rampart);
        let error = |status, message| CallError {
            status,
            message: format!("{path}: {message}"),
        };
        match self.agent.post(&url).send_json(body) {
            Ok(r) => r.into_json().map_err(|e| error(None, e.to_string())),
            Err(ureq::Error::Status(code, r)) => {
                let body: Value = r.into_json().unwrap_or(Value::Null);
                let message = body["error"]["message"].as_str().unwrap_or("").to_string();
                Err(error(Some(code), format!("{code} {message}")))
            }
            Err(e) => Err(error(None, e.to_string())),
        }
    }

    /// Has the fraud scorer judge `payment` through rampart's model proxy, with the payment as the
    /// unit. The proxy assigns the variant, logs the exposure and records the call's `response`
    /// and `error` events itself: nothing to report here.
    fn score(&self, payment: &Payment, stats: &Stats) -> Flagged {
        let url = format!("{}/v1/predict/fraud-scorer/score", self.rampart);
        let reply = self
            .agent
            .post(&url)
            .set("X-Rampart-Unit", &payment.id)
            .send_json(json!({"id": payment.id, "signal": payment.signal}));
        match reply {
            Ok(r) => r
                .into_json::<Value>()
                .ok()
                .map(|v| v["flag"].as_bool().unwrap_or(false)),
            // The model server's own failure (its answer carries X-Rampart-Variant) is part of the
            // story, and so is one the proxy reports for it (unreachable, timed out); anything
            // else is a failed call to rampart.
            Err(ureq::Error::Status(code, r)) => {
                let from_model = r.header("X-Rampart-Variant").is_some();
                if !from_model && !matches!(code, 502 | 504) {
                    let body: Value = r.into_json().unwrap_or(Value::Null);
                    let message = body["error"]["message"].as_str().unwrap_or("");
                    stats.failed(format!("/v1/predict/fraud-scorer/score: {code} {message}"));
                }
                None
            }
            Err(e) => {
                stats.failed(format!("/v1/predict/fraud-scorer/score: {e}"));
                None
            }
        }
    }

    /// Calls a toy model server and reports the call as a service would: a `request`, the
    /// `response` time in ms, and an `error` when it failed. `None` on failure.
    fn call_toy(
        &self,
        url: &str,
        body: &Value,
        model: &str,
        unit: &str,
        events: &mut Events,
    ) -> Option<Value> {
        let started = Instant::now();
        let reply = self.agent.post(url).send_json(body);
        let ms = started.elapsed().as_secs_f64() * 1_000.0;
        events.add("request", unit, model, None, None);
        events.add("response", unit, model, Some(round2(ms)), None);
        match reply.ok().and_then(|r| r.into_json::<Value>().ok()) {
            Some(v) => Some(v),
            None => {
                events.add("error", unit, model, None, None);
                None
            }
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The outcome events of one round, posted together.
pub struct Events {
    prefix: String,
    next: u64,
    list: Vec<Value>,
}

impl Events {
    fn add(
        &mut self,
        kind: &str,
        unit: &str,
        model: &str,
        value: Option<f64>,
        attributes: Option<Value>,
    ) {
        self.next += 1;
        let mut e = json!({
            "id": format!("{}-{}", self.prefix, self.next),
            "type": kind,
            "unit": unit,
            "model": model,
        });
        if let Some(v) = value {
            e["value"] = json!(v);
        }
        if let Some(a) = attributes {
            e["attributes"] = a;
        }
        self.list.push(e);
    }
}

struct Visit {
    id: String,
    user: String,
    search: Option<String>,
    payment: Option<Payment>,
}

struct Worker<'a> {
    index: usize,
    shared: &'a SharedState,
    stats: &'a Stats,
    client: Client,
    rng: Rng,
    rounds: u64,
    visits: u64,
}

impl<'a> Worker<'a> {
    fn new(index: usize, shared: &'a SharedState, stats: &'a Stats) -> Worker<'a> {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .max_idle_connections_per_host(4)
            .build();
        let plan = &shared.plan;
        Worker {
            index,
            shared,
            stats,
            client: Client {
                agent,
                rampart: plan.rampart.clone(),
            },
            rng: Rng::new(toy::hash(plan.seed, &["traffic", &index.to_string()])),
            rounds: 0,
            visits: 0,
        }
    }

    /// One round trip: `n` visits, one assignment batch, the toy calls, one event batch.
    fn round(&mut self, n: usize) {
        self.rounds += 1;
        let plan = &self.shared.plan;
        let visits: Vec<Visit> = (0..n)
            .map(|_| {
                self.visits += 1;
                let id = format!("{:x}-{}-{}", plan.seed, self.index, self.visits);
                let user = format!("u-{:06}", self.rng.below(plan.users));
                let search = self
                    .rng
                    .bernoulli(0.4)
                    .then(|| format!("q-{}", self.rng.below(1_000_000)));
                let payment = self.rng.bernoulli(0.8).then(|| {
                    let fraud = self.rng.bernoulli(0.04);
                    Payment {
                        id: format!("p-{id}"),
                        fraud,
                        signal: toy::fraud_signal(&mut self.rng, fraud),
                    }
                });
                Visit {
                    id,
                    user,
                    search,
                    payment,
                }
            })
            .collect();

        let bakeoff_over = self.shared.bakeoff_over.load(Ordering::Acquire);
        let mut requests = Vec::with_capacity(3 * n);
        for v in &visits {
            requests.push(json!({"model": "recs", "unit": v.user}));
            if bakeoff_over && v.search.is_some() {
                requests.push(json!({"model": "search", "unit": v.user}));
            }
        }
        let assignments = match self
            .client
            .post("/v1/assign/batch", &json!({ "requests": requests }))
        {
            Ok(reply) => reply["assignments"].as_array().cloned().unwrap_or_default(),
            Err(e) => {
                self.stats.failed(e.message);
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
        };
        let mut assigned = assignments.iter();

        let mut events = Events {
            prefix: format!("{:x}-{}-{}", plan.seed, self.index, self.rounds),
            next: 0,
            list: Vec::with_capacity(8 * n),
        };
        let (mut payments, mut searches) = (0, 0);
        for v in &visits {
            let recs = assigned.next();
            self.recommend(v, recs, &mut events);
            if let Some(query) = &v.search {
                searches += 1;
                let search = (bakeoff_over).then(|| assigned.next()).flatten();
                self.search(v, query, search, &mut events);
            }
            if let Some(p) = &v.payment {
                payments += 1;
                let flagged = self.client.score(p, self.stats);
                // The business outcome, which the proxy cannot know, is the shop's to report.
                if p.fraud {
                    events.add("fraud", &p.id, "fraud-scorer", None, None);
                    if flagged == Some(true) {
                        events.add("caught", &p.id, "fraud-scorer", None, None);
                    }
                }
            }
        }
        let posted = events.list.len() as u64;
        if !events.list.is_empty() {
            if let Err(e) = self
                .client
                .post("/v1/events", &json!({ "events": events.list }))
            {
                self.stats.failed(e.message);
            }
        }
        self.stats.visits.fetch_add(n as u64, Ordering::Relaxed);
        self.stats.payments.fetch_add(payments, Ordering::Relaxed);
        self.stats.searches.fetch_add(searches, Ordering::Relaxed);
        self.stats.events.fetch_add(posted, Ordering::Relaxed);
    }

    /// The recommender's list on the home page: clicks by appeal and position, some purchases.
    fn recommend(&mut self, v: &Visit, assignment: Option<&Value>, events: &mut Events) {
        let plan = &self.shared.plan;
        let variant = assignment
            .and_then(|a| a["variant"].as_str())
            .unwrap_or("v1");
        let Some(url) = toy::call_url(&plan.endpoints, "recs", variant) else {
            return;
        };
        let Some(reply) = self.client.call_toy(
            &url,
            &json!({"id": v.id, "user": v.user}),
            "recs",
            &v.user,
            events,
        ) else {
            return;
        };
        events.add("impression", &v.user, "recs", None, None);
        let items = reply["items"].as_array().cloned().unwrap_or_default();
        for (k, item) in items.iter().enumerate() {
            let Some(item) = item.as_str() else { continue };
            let a = toy::appeal(plan.seed, &v.user, item);
            // Lower positions are seen less often; liked items are clicked more.
            if self.rng.bernoulli(0.9f64.powi(k as i32)) && self.rng.bernoulli(0.5 * a * a) {
                events.add("click", &v.user, "recs", None, None);
                if self.rng.bernoulli(0.08 * a) {
                    let price = (10.0 + 90.0 * self.rng.uniform()).round();
                    events.add("purchase", &v.user, "recs", Some(price), None);
                }
            }
        }
    }

    /// A search: an interleaved list while the bake-off runs, the assigned ranker's list after.
    fn search(&mut self, v: &Visit, query: &str, assignment: Option<&Value>, events: &mut Events) {
        let plan = &self.shared.plan;
        if !self.shared.bakeoff_over.load(Ordering::Acquire) {
            let mut rankings = serde_json::Map::new();
            for ranker in RANKERS {
                let Some(url) = toy::call_url(&plan.endpoints, "search", ranker) else {
                    return;
                };
                let body = json!({"id": format!("{}-{ranker}", v.id), "query": query});
                match self.client.call_toy(&url, &body, "search", &v.user, events) {
                    Some(reply) => {
                        rankings.insert(ranker.to_string(), reply["items"].clone());
                    }
                    // A ranker that fails leaves the page to the others: no interleaving then.
                    None => return,
                }
            }
            let reply = self.client.post(
                "/v1/interleave",
                &json!({"experiment": BAKEOFF, "unit": v.user, "rankings": rankings, "length": RESULTS_SHOWN}),
            );
            match reply {
                Ok(reply) => {
                    let items: Vec<String> = reply["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|i| i["id"].as_str().map(str::to_string))
                        .collect();
                    let impression = reply["impression_id"].as_str().map(str::to_string);
                    self.browse(v, query, &items, impression.as_deref(), events);
                }
                Err(e) if e.status == Some(409) => {
                    // The bake-off has stopped: from now on searches are assigned.
                    self.shared.bakeoff_over.store(true, Ordering::Release);
                }
                Err(e) => self.stats.failed(e.message),
            }
            return;
        }
        let assignment = match assignment {
            Some(a) => a.clone(),
            None => match self
                .client
                .post("/v1/assign", &json!({"model": "search", "unit": v.user}))
            {
                Ok(a) => a,
                Err(e) => return self.stats.failed(e.message),
            },
        };
        let variant = assignment["variant"].as_str().unwrap_or("bm25");
        let Some(url) = toy::call_url(&plan.endpoints, "search", variant) else {
            return;
        };
        let body = json!({"id": format!("{}-{variant}", v.id), "query": query});
        if let Some(reply) = self.client.call_toy(&url, &body, "search", &v.user, events) {
            let items: Vec<String> = reply["items"]
                .as_array()
                .into_iter()
                .flatten()
                .take(RESULTS_SHOWN as usize)
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect();
            self.browse(v, query, &items, None, events);
        }
    }

    /// A user reading a result page top-down: clicks by relevance, stops when satisfied or bored.
    fn browse(
        &mut self,
        v: &Visit,
        query: &str,
        items: &[String],
        impression: Option<&str>,
        events: &mut Events,
    ) {
        const CLICK: [f64; 3] = [0.02, 0.3, 0.85];
        const STOP: [f64; 3] = [0.05, 0.15, 0.35];
        let docs = toy::query_docs(self.shared.plan.seed, query);
        events.add("impression", &v.user, "search", None, None);
        for item in items {
            if !self.rng.bernoulli(0.9) {
                break;
            }
            let grade = docs
                .iter()
                .find(|d| &d.id == item)
                .map_or(0, |d| d.grade as usize);
            if self.rng.bernoulli(CLICK[grade]) {
                let attributes = impression.map(|i| json!({"impression_id": i, "item": item}));
                events.add("click", &v.user, "search", None, attributes);
                if grade == 2 {
                    events.add("satisfied", &v.user, "search", None, None);
                }
                if self.rng.bernoulli(STOP[grade]) {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_of_visits_follows_the_cycle() {
        let peak = 24_000.0;
        // A whole day, summed in one-minute steps, is the mean of the cycle times a day at peak.
        let day: f64 = (0..1_440)
            .map(|m| visits_between(m * 60_000, (m + 1) * 60_000, peak))
            .sum();
        let mean = DAILY_CYCLE.iter().sum::<f64>() / 24.0;
        assert!((day - mean * peak * 24.0).abs() < 1.0, "{day}");
        // The evening is busier than the night.
        assert!(cycle_at(20 * 3_600_000) > 4.0 * cycle_at(4 * 3_600_000));
        assert!((cycle_at(2 * 3_600_000 + 1_800_000) - 0.22).abs() < 1e-12);
    }

    #[test]
    fn the_pacer_hands_out_what_is_due_and_forgives_a_large_backlog() {
        // 19:00, the busiest hour: 1,000 a second.
        let pacer = Pacer::new(19 * 3_600_000, 3_600_000.0);
        assert_eq!(pacer.claim(19 * 3_600_000, 50), 0);
        // 10 ms later: 10 visits are due.
        assert_eq!(pacer.claim(19 * 3_600_000 + 10, 50), 10);
        assert_eq!(pacer.claim(19 * 3_600_000 + 10, 50), 0);
        // An hour behind: at most 20 batches are owed, handed out a batch at a time.
        let later = 20 * 3_600_000;
        let owed: u64 = (0..25).map(|_| pacer.claim(later, 50)).sum();
        assert_eq!(owed, 1_000);
    }
}
