//! Carrying out decisions: append them to the decision log and store the entity's new state (in
//! one store transaction, off the runtime's threads), then swap in a live view compiled from the
//! new state.
//! Rollouts and experiments both go through here.

use std::sync::Arc;

use rampart_core::state::LiveState;
use rampart_core::{Assigner, Decision, EntityKind, EntityRecord, Millis};
use rampart_store::Step;
use serde_json::Value;

use crate::app::Shared;
use crate::error::ApiError;
use crate::live::Live;

/// Appends `decisions` to the log and stores the entity's new state (keeping its salt), in one
/// transaction and off the runtime's threads; returns the decisions with their ids.
pub(crate) async fn persist_step(
    shared: &Shared,
    kind: EntityKind,
    name: &str,
    state: Value,
    decisions: Vec<Decision>,
    now: Millis,
) -> Result<Vec<Decision>, ApiError> {
    let record = EntityRecord {
        kind,
        name: name.to_string(),
        salt: shared.live.load().state.salt(kind, name),
        state,
        updated_at: now,
    };
    let store = shared.store.clone();
    let logged = tokio::task::spawn_blocking(move || -> Result<Vec<Decision>, String> {
        let ids = store
            .commit(&Step {
                fence: None,
                decisions: &decisions,
                entities: std::slice::from_ref(&record),
            })
            .map_err(|e| e.to_string())?;
        Ok(decisions
            .into_iter()
            .zip(ids)
            .map(|(d, id)| Decision { id, ..d })
            .collect())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(ApiError::internal)?;
    shared.telemetry.count_decisions(kind, &logged);
    Ok(logged)
}

/// Swaps in a live view whose state `change` edited, with an assigner compiled from it. Callers
/// hold the control lock, so no other change interleaves.
pub(crate) fn swap_state(shared: &Shared, change: impl FnOnce(&mut LiveState)) {
    let live = shared.live.load_full();
    let mut state = live.state.clone();
    change(&mut state);
    let assigner = Assigner::new(&live.config, &state);
    shared.live.store(Arc::new(Live {
        config: live.config.clone(),
        config_version: live.config_version,
        state,
        assigner,
    }));
}
