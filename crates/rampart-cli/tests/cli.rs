//! Tests of the real `rampart` binary: its commands, reload on SIGHUP, and durability of
//! acknowledged events across a SIGKILL. Built as one test binary (one link step).

mod support;

mod commands;
mod durability;
