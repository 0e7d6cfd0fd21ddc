//! Deterministic assignment.
