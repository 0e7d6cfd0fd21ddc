//! rampart-store: persistence behind one trait.
//!
//! [`Store`] is what the server needs from a database: an ordered append-only log of exposures,
//! outcome events (idempotent on event id) and interleaved impressions, entity salts and state,
//! config versions and the decision log. [`SqliteStore`] is the embedded implementation: one data directory, one
//! `rampart.db` in WAL mode, one writer process; [`SqliteReader`] reads the same directory
//! from other processes (exports) without the writer's lock, by [`TimeRange`] through a
//! [`Snapshot`]. Every failure is a [`StoreError`].

mod error;
mod sqlite;
mod store;

pub use error::{Result, StoreError};
pub use sqlite::{Snapshot, SqliteReader, SqliteStore, TimeRange};
pub use store::{Appended, Store};
