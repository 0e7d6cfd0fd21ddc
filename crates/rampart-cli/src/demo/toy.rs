//! The demo's toy world and the model servers that live in it.
//!
//! The world is a shop: users with items they like more or less ([`appeal`]), search queries with
//! documents of graded relevance ([`query_docs`]), and payments, a few of them fraudulent, each
//! with a risk signal ([`fraud_signal`]). Everything is derived by hashing from the demo's seed, so
//! a model server and the traffic driver agree on the truth without sharing state.
//!
//! Each model version is a small axum server on its own loopback port, as separate deployments
//! would be ([`start`]): two fraud scorers (v2 is worse: more errors, a slow tail and a noisier
//! score), two recommenders (v2 picks slightly better items) and three search rankers of clearly
//! different quality. Latency is real: a server sleeps before it answers. A failure is a real
//! `503`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use rampart_stats::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Items in the shop's catalogue.
const CATALOGUE: u64 = 5_000;
/// Items a recommender chooses from on one visit.
pub const RECS_POOL: usize = 40;
/// Items a recommender shows.
pub const RECS_SHOWN: usize = 10;
/// Documents that match a search query.
pub const QUERY_DOCS: usize = 20;

/// A 64-bit hash of `parts` under `seed`: the world's only source of truth.
pub fn hash(seed: u64, parts: &[&str]) -> u64 {
    let mut h = seed;
    for p in parts {
        h = xxh3_64_with_seed(p.as_bytes(), h);
    }
    h
}

/// A uniform number in [0, 1) from a hash.
fn unit_interval(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// How much `user` likes `item`, in [0, 1): the chance of a click grows with it.
pub fn appeal(seed: u64, user: &str, item: &str) -> f64 {
    unit_interval(hash(seed ^ 0x00A9_9EA1, &[user, item]))
}

/// The items a recommender may choose from for `user` on one `visit`.
pub fn recs_pool(seed: u64, user: &str, visit: &str) -> Vec<String> {
    let mut rng = Rng::new(hash(seed ^ 0x9001, &[user, visit]));
    let mut pool = Vec::with_capacity(RECS_POOL);
    while pool.len() < RECS_POOL {
        let item = format!("i-{:04}", rng.below(CATALOGUE));
        if !pool.contains(&item) {
            pool.push(item);
        }
    }
    pool
}

/// One document that matches a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub id: String,
    /// 0 (not relevant), 1 (somewhat), 2 (what the user looks for).
    pub grade: u8,
    /// How often the document is clicked across all queries, in [0, 1): what a popularity
    /// ranker sorts by, unrelated to relevance for this query.
    pub popularity: f64,
}

/// The documents matching `query`, with their true relevance.
pub fn query_docs(seed: u64, query: &str) -> Vec<Doc> {
    let mut rng = Rng::new(hash(seed ^ 0x5EA4C4, &[query]));
    (0..QUERY_DOCS)
        .map(|i| Doc {
            id: format!("{query}-d{i:02}"),
            grade: rng.below(3) as u8,
            popularity: rng.uniform(),
        })
        .collect()
}

/// The risk signal of a payment as the payment system sees it: higher for fraud.
pub fn fraud_signal(rng: &mut Rng, fraud: bool) -> f64 {
    let mean = if fraud { 2.5 } else { 0.0 };
    mean + rng.normal()
}

/// How long a model version takes to answer, and how often it fails.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Every answer takes at least this long (ms).
    pub base_ms: f64,
    /// Plus an exponentially distributed extra with this mean (ms).
    pub jitter_ms: f64,
    /// This share of answers is slow (a cold cache, a garbage collection) ...
    pub slow_share: f64,
    /// ... and takes this much longer (ms).
    pub slow_ms: f64,
    /// Share of requests answered with 503.
    pub error_rate: f64,
}

/// What one model version computes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Flags a payment when its risk signal, blurred by `noise`, exceeds `threshold`.
    Fraud { noise: f64, threshold: f64 },
    /// Ranks the visit's pool by appeal blurred by `noise`, and shows the top items.
    Recommender { noise: f64 },
    /// Ranks a query's documents by relevance blurred by `noise`.
    Relevance { noise: f64 },
    /// Ranks a query's documents by popularity, with a little relevance and `noise`.
    Popularity { noise: f64 },
}

/// One model version of the demo.
#[derive(Debug, Clone, Copy)]
pub struct Toy {
    pub model: &'static str,
    pub variant: &'static str,
    /// The path it serves (`/score`, `/recommend`, `/rank`).
    pub path: &'static str,
    pub kind: Kind,
    pub behaviour: Behaviour,
}

const QUICK: Behaviour = Behaviour {
    base_ms: 0.5,
    jitter_ms: 1.0,
    slow_share: 0.0,
    slow_ms: 0.0,
    error_rate: 0.002,
};

/// The model versions of the demo: what `examples/demo.toml` declares.
pub const TOYS: [Toy; 7] = [
    Toy {
        model: "fraud-scorer",
        variant: "v1",
        path: "/score",
        kind: Kind::Fraud {
            noise: 0.5,
            threshold: 1.5,
        },
        behaviour: QUICK,
    },
    // The bad candidate: a noisier score catches less fraud, one call in ten fails and one in
    // twelve stalls for 80 ms.
    Toy {
        model: "fraud-scorer",
        variant: "v2",
        path: "/score",
        kind: Kind::Fraud {
            noise: 1.5,
            threshold: 2.0,
        },
        behaviour: Behaviour {
            base_ms: 1.0,
            jitter_ms: 2.0,
            slow_share: 0.08,
            slow_ms: 80.0,
            error_rate: 0.10,
        },
    },
    Toy {
        model: "recs",
        variant: "v1",
        path: "/recommend",
        kind: Kind::Recommender { noise: 0.35 },
        behaviour: QUICK,
    },
    // The good candidate: a sharper ranking of the same pool, about 8% more clicks.
    Toy {
        model: "recs",
        variant: "v2",
        path: "/recommend",
        kind: Kind::Recommender { noise: 0.27 },
        behaviour: QUICK,
    },
    Toy {
        model: "search",
        variant: "bm25",
        path: "/rank",
        kind: Kind::Relevance { noise: 1.2 },
        behaviour: QUICK,
    },
    // The truly best ranker.
    Toy {
        model: "search",
        variant: "neural",
        path: "/rank",
        kind: Kind::Relevance { noise: 0.3 },
        behaviour: QUICK,
    },
    Toy {
        model: "search",
        variant: "popular",
        path: "/rank",
        kind: Kind::Popularity { noise: 1.0 },
        behaviour: QUICK,
    },
];

/// The base URL of each model version's server (`http://127.0.0.1:PORT`), by (model, variant):
/// what the config's `endpoint` holds, so rampart's model proxy can append the call's path.
pub type Endpoints = BTreeMap<(String, String), String>;

/// The URL that calls `variant` of `model` directly: its server and the path its kind serves.
pub fn call_url(endpoints: &Endpoints, model: &str, variant: &str) -> Option<String> {
    let toy = TOYS
        .iter()
        .find(|t| t.model == model && t.variant == variant)?;
    let base = endpoints.get(&(model.to_string(), variant.to_string()))?;
    Some(format!("{base}{}", toy.path))
}

/// The port `examples/demo.toml` names for each toy; replaced by the real ports at start.
pub fn example_port(index: usize) -> u16 {
    9301 + index as u16
}

struct Served {
    toy: Toy,
    seed: u64,
}

/// Starts every toy on a free loopback port; they serve until the process ends.
pub async fn start(seed: u64) -> std::io::Result<Endpoints> {
    let mut endpoints = Endpoints::new();
    for toy in TOYS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let state = Arc::new(Served { toy, seed });
        let app = Router::new()
            .route(toy.path, post(answer))
            .with_state(state);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "a toy model server stopped");
            }
        });
        endpoints.insert(
            (toy.model.to_string(), toy.variant.to_string()),
            format!("http://{addr}"),
        );
    }
    Ok(endpoints)
}

/// A request to any toy: the fields its kind reads.
#[derive(Debug, Deserialize)]
struct Request {
    /// A unique id of the call: seeds its latency, failure and noise.
    id: String,
    #[serde(default)]
    signal: Option<f64>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    query: Option<String>,
}

async fn answer(
    State(s): State<Arc<Served>>,
    Json(req): Json<Request>,
) -> (StatusCode, Json<Value>) {
    let toy = s.toy;
    let mut rng = Rng::new(hash(s.seed, &[toy.model, toy.variant, &req.id]));
    let b = toy.behaviour;
    let mut ms = b.base_ms - b.jitter_ms * (1.0 - rng.uniform()).ln();
    if rng.bernoulli(b.slow_share) {
        ms += b.slow_ms;
    }
    tokio::time::sleep(Duration::from_micros((ms * 1_000.0) as u64)).await;
    if rng.bernoulli(b.error_rate) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "model server overloaded"})),
        );
    }
    let missing = |field: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("{field} is required")})),
        )
    };
    match toy.kind {
        Kind::Fraud { noise, threshold } => {
            let Some(signal) = req.signal else {
                return missing("signal");
            };
            let score = signal + noise * rng.normal();
            (
                StatusCode::OK,
                Json(json!({"score": score, "flag": score > threshold})),
            )
        }
        Kind::Recommender { noise } => {
            let Some(user) = req.user else {
                return missing("user");
            };
            let pool = recs_pool(s.seed, &user, &req.id);
            let mut scored: Vec<(f64, String)> = pool
                .into_iter()
                .map(|item| (appeal(s.seed, &user, &item) + noise * rng.normal(), item))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let items: Vec<String> = scored
                .into_iter()
                .take(RECS_SHOWN)
                .map(|(_, i)| i)
                .collect();
            (StatusCode::OK, Json(json!({"items": items})))
        }
        Kind::Relevance { .. } | Kind::Popularity { .. } => {
            let Some(query) = req.query else {
                return missing("query");
            };
            let mut scored: Vec<(f64, String)> = query_docs(s.seed, &query)
                .into_iter()
                .map(|d| {
                    let score = match toy.kind {
                        Kind::Relevance { noise } => f64::from(d.grade) + noise * rng.normal(),
                        Kind::Popularity { noise } => {
                            2.0 * d.popularity + 0.5 * f64::from(d.grade) + noise * rng.normal()
                        }
                        _ => 0.0,
                    };
                    (score, d.id)
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let items: Vec<String> = scored.into_iter().map(|(_, d)| d).collect();
            (StatusCode::OK, Json(json!({"items": items})))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_the_same_for_the_same_seed() {
        assert_eq!(query_docs(7, "q-1"), query_docs(7, "q-1"));
        assert_ne!(query_docs(7, "q-1"), query_docs(8, "q-1"));
        assert_eq!(appeal(7, "u-1", "i-0001"), appeal(7, "u-1", "i-0001"));
        let pool = recs_pool(7, "u-1", "v-1");
        assert_eq!(pool.len(), RECS_POOL);
        let mut unique = pool.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECS_POOL, "no item twice in a pool");
    }

    #[test]
    fn a_direct_call_goes_to_the_server_and_the_path_of_its_kind() {
        let mut endpoints = Endpoints::new();
        endpoints.insert(("recs".into(), "v2".into()), "http://127.0.0.1:4000".into());
        assert_eq!(
            call_url(&endpoints, "recs", "v2").as_deref(),
            Some("http://127.0.0.1:4000/recommend")
        );
        assert_eq!(call_url(&endpoints, "recs", "v3"), None);
        assert_eq!(call_url(&endpoints, "search", "bm25"), None, "not started");
    }

    #[test]
    fn every_toy_has_an_example_port_of_its_own() {
        let ports: std::collections::BTreeSet<u16> = (0..TOYS.len()).map(example_port).collect();
        assert_eq!(ports.len(), TOYS.len());
    }
}
