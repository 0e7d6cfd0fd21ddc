//! The [`Store`] trait, the contract the server codes against, and what an append reports.

use std::time::Duration;

use rampart_core::{Decision, EntityKind, EntityRecord, Millis, Record};

use crate::error::Result;

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Appended {
    /// Sequence number given to the first stored record of the call; the stored records are
    /// numbered consecutively in the order given, duplicates take no number. When nothing was
    /// stored it is the number the next stored record will get.
    pub first_seq: i64,
    /// Per record: true if it was stored, false if it was an event whose id was already known
    /// (from an earlier call or earlier in this one).
    pub fresh: Vec<bool>,
    pub duplicates: usize,
}

/// A held lease: `holder` holds `name` in `epoch`. Epochs of a lease only grow: each new holding
/// (a takeover, or a holder coming back after its lease ran out) gets a larger one, so a write
/// fenced by an old epoch can be told apart from the current holder's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
}

/// One step of the controller, written in one transaction: the decisions it logs and the
/// entity records it stores, and optionally the lease it must still hold for the write to
/// count (otherwise nothing is written and the commit fails with `Fenced`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Step<'a> {
    pub fence: Option<&'a Lease>,
    pub decisions: &'a [Decision],
    pub entities: &'a [EntityRecord],
}

/// Persistence for one rampart deployment. Every method is synchronous; callers run it off the
/// async runtime.
pub trait Store: Send + Sync {
    /// Appends records in order, in one transaction. Events whose id is already stored are not
    /// stored again. When this returns Ok the records are durable; when it returns an error
    /// nothing of the call is stored.
    fn append(&self, records: &[Record]) -> Result<Appended>;
    /// Calls `f` with every stored record whose sequence number is >= `from_seq`, in order.
    /// `f` must not call back into the store.
    fn replay(&self, from_seq: i64, f: &mut dyn FnMut(i64, Record)) -> Result<()>;
    /// Number of stored (exposures, events).
    fn count_records(&self) -> Result<(u64, u64)>;

    fn load_entities(&self) -> Result<Vec<EntityRecord>>;
    fn load_entity(&self, kind: EntityKind, name: &str) -> Result<Option<EntityRecord>>;
    /// Inserts or replaces the record of (kind, name).
    fn save_entity(&self, record: &EntityRecord) -> Result<()>;
    /// Moves the stored record of (kind, from) to (kind, to), keeping its salt and state.
    /// Fails with `EntityNotFound` if `from` is not stored and `EntityExists` if `to` is.
    fn rename_entity(&self, kind: EntityKind, from: &str, to: &str) -> Result<()>;

    /// Stores a config text; returns its version number (a text equal to the latest is not stored
    /// again and returns the latest version).
    fn save_config(&self, text: &str, ts: Millis) -> Result<i64>;
    /// The latest stored config text and its version.
    fn latest_config(&self) -> Result<Option<(i64, String)>>;

    /// Appends to the decision log; returns the decision's id (the `id` given is ignored).
    fn append_decision(&self, decision: &Decision) -> Result<i64>;
    /// Decisions in log order, optionally of one entity, at most `limit` of the newest.
    fn decisions(&self, entity: Option<&str>, limit: usize) -> Result<Vec<Decision>>;

    /// Writes a step in one transaction: its decisions (in order; returns their ids) and its
    /// entity records (inserted or replaced). With a fence, the write happens only if the fence
    /// is still the lease's current, unexpired holding; otherwise it fails with `Fenced` and
    /// writes nothing.
    fn commit(&self, step: &Step<'_>) -> Result<Vec<i64>>;
    /// Takes the lease `name` for `holder` for `ttl`, or renews it if `holder` holds it: returns
    /// the holding, or None while another holder's lease has not run out. Time is the
    /// database's clock, which every process sharing the store agrees on.
    fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>>;
    /// Gives the lease up at once (if `lease` is still the current holding), so another holder
    /// need not wait for it to run out.
    fn release_lease(&self, lease: &Lease) -> Result<()>;
}
