//! The live view the request path reads: config, live state and the compiled assigner, swapped
//! whole behind an atomic pointer on every change; and `apply_config`, which turns a validated
//! config into that view and persists what is new.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use rampart_core::state::{reconcile, LiveState};
use rampart_core::{Assigner, Config, Millis};
use rampart_store::Store;

/// One consistent snapshot of what the service serves.
#[derive(Debug)]
pub struct Live {
    pub config: Arc<Config>,
    pub config_version: i64,
    pub state: LiveState,
    pub assigner: Assigner,
}

/// A fresh random 64-bit number from the OS-seeded hasher (new salts, id prefixes).
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(crate::clock::now_ms() as u64);
    h.finish()
}

/// Merges `config` with the stored entities, stores what is new (salts, initial states, renames,
/// the config text with its inline secrets redacted) and compiles the assigner.
pub fn apply_config(
    store: &dyn Store,
    config: Config,
    text: &str,
    now: Millis,
) -> Result<Live, String> {
    let stored = store.load_entities().map_err(|e| e.to_string())?;
    let reconciled =
        reconcile(&config, &stored, now, &mut random_u64).map_err(|e| e.to_string())?;
    for (kind, from, to) in &reconciled.renames {
        store
            .rename_entity(*kind, from, to)
            .map_err(|e| e.to_string())?;
    }
    for rec in &reconciled.save {
        store.save_entity(rec).map_err(|e| e.to_string())?;
    }
    // Stored versions are read by anyone with the data directory or a backup: no secret in them.
    let redacted = rampart_core::config::redact(text, &config);
    let config_version = store
        .save_config(&redacted, now)
        .map_err(|e| e.to_string())?;
    let assigner = Assigner::new(&config, &reconciled.state);
    Ok(Live {
        config: Arc::new(config),
        config_version,
        state: reconciled.state,
        assigner,
    })
}
