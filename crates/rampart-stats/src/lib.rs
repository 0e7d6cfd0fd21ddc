//! rampart-stats: pure statistics for online experiments.
//!
//! Takes sufficient statistics (counts, means, variances), returns numbers. No IO, no async, and no
//! knowledge of rollouts or experiments.
