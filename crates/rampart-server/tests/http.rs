//! End-to-end tests of the HTTP API: a real server on port 0 with a temporary data directory,
//! talked to over loopback by a real HTTP client. Built as one test binary (one link step); the
//! scenarios live in the modules under `tests/http/`.

#[path = "http/support.rs"]
mod support;

#[path = "http/assign.rs"]
mod assign;
#[path = "http/auth.rs"]
mod auth;
#[path = "http/commands.rs"]
mod commands;
#[path = "http/dashboard.rs"]
mod dashboard;
#[path = "http/edge.rs"]
mod edge;
#[path = "http/events.rs"]
mod events;
#[path = "http/evidence.rs"]
mod evidence;
#[path = "http/experiments.rs"]
mod experiments;
#[path = "http/holdouts.rs"]
mod holdouts;
#[path = "http/interleave.rs"]
mod interleave;
#[path = "http/lifecycle.rs"]
mod lifecycle;
#[path = "http/ofrep.rs"]
mod ofrep;
#[path = "http/openapi.rs"]
mod openapi;
#[path = "http/ops.rs"]
mod ops;
#[path = "http/prometheus.rs"]
mod prometheus;
#[path = "http/proxy.rs"]
mod proxy;
#[path = "http/rejections.rs"]
mod rejections;
#[path = "http/rollouts.rs"]
mod rollouts;
#[path = "http/schema.rs"]
mod schema;
#[path = "http/schemathesis.rs"]
mod schemathesis;
#[path = "http/verdict.rs"]
mod verdict;
#[path = "http/webhooks.rs"]
mod webhooks;
