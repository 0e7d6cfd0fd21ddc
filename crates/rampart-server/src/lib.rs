//! rampart-server: the running service.
//!
//! [`start`] loads a config, opens the store, rebuilds live state and evidence from it and serves
//! the HTTP API ([`router`]). Requests read an immutable [`Live`] view (config, state, compiled
//! assigner) swapped whole on change; every exposure and event goes through the single
//! [`Writer`], which stores it and then folds it into the evidence. Bearer tokens ([`Tokens`])
//! gate every route but the probes and the dashboard by role ([`POLICY`]); [`OPENAPI`] describes
//! the whole API. `GET /` serves the live dashboard, whose files are embedded ([`DASHBOARD_ASSETS`]).

mod app;
mod auth;
mod clock;
mod controller;
mod dashboard;
mod edge;
mod effects;
mod error;
mod experiments;
mod holdouts;
mod interleave;
mod live;
mod notify;
mod ofrep;
mod prometheus;
mod proxy;
mod rollouts;
mod run;
mod secret;
mod series;
mod telemetry;
pub mod tls;
mod verdict;
mod writer;

pub use app::{router, Shared, OPENAPI};
pub use auth::{is_loopback, load_tokens, Access, Tokens, POLICY};
pub use clock::{
    accelerate, now_ms, parse_rfc3339, speed, wall_ms, Acceleration, ClockError, MAX_SPEED,
};
pub use controller::{read_providers, tick, tick_with, LastLook};
pub use dashboard::{Asset as DashboardAsset, ASSETS as DASHBOARD_ASSETS};
pub use edge::Timeouts;
pub use error::ApiError;
pub use live::{apply_config, Live};
pub use notify::{Event as NotificationEvent, Notifier};
pub use prometheus::{parse_answer, Prometheus};
pub use run::{start, Options, Running, ServeError};
pub use telemetry::{parse_process, Gauges, ProcessStats, RolloutGauges, Telemetry};
pub use writer::{Ingested, Writer};
