//! Tests of the real `rampart` binary: its commands, reload on SIGHUP, durability of
//! acknowledged events across a SIGKILL, the rollout verbs (`rollout`, `log`, `kill`), and the
//! experiment verbs with their reports (`experiment`, `report`), the planner (`plan`), the CSV
//! and Parquet export (`export`), the strategy simulator (`simulate`), bearer tokens (`--token`,
//! `RAMPART_TOKEN`, the loopback-only refusal), the demo (`demo`), outbound HTTPS to servers
//! whose certificate comes from a CA made in the test (`tls`), and what scripts rely on: exit
//! codes, `rollout status --watch`, timeouts, closed pipes, completions, `validate --json`.
//! Built as one test binary (one link step).

mod support;

mod auth;
mod commands;
mod demo;
mod durability;
mod export;
mod gates;
mod plan;
mod report;
mod rollouts;
mod scripting;
mod serving;
mod simulate;
mod tls;
