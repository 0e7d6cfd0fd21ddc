//! Tests of the real `rampart` binary: its commands, reload on SIGHUP, durability of
//! acknowledged events across a SIGKILL, the rollout verbs (`rollout`, `log`, `kill`), and the
//! experiment verbs with their reports (`experiment`, `report`), and the planner (`plan`). Built as
//! one test binary (one link step).

mod support;

mod commands;
mod durability;
mod plan;
mod report;
mod rollouts;
