//! rampart-store: persistence behind one trait.
//!
//! [`Store`] is what the server needs from a database: an ordered append-only log of exposures,
//! outcome events (idempotent on event id) and interleaved impressions, entity salts and state,
//! config versions and the decision log. Two implementations:
//!
//! - [`SqliteStore`], the embedded default: one data directory, one `rampart.db` in WAL mode,
//!   one writer process; [`SqliteReader`] reads the same directory from other processes
//!   (exports) without the writer's lock, by [`TimeRange`] through a [`Snapshot`];
//! - [`PostgresStore`], the shared system of record: one PostgreSQL database (or schema), the
//!   log numbered in commit order and deduplicated by a unique index, so what it holds does not
//!   depend on which process wrote it.
//!
//! [`StoreLocation`] says which one a deployment uses and [`open`] opens it. Every failure is a
//! [`StoreError`], which names no database driver.

mod codec;
mod dedup;
mod error;
mod location;
mod postgres;
mod sqlite;
mod store;
#[doc(hidden)]
pub mod testing;

pub use error::{Result, StoreError};
pub use location::{open, StoreLocation};
pub use postgres::PostgresStore;
pub use sqlite::{Snapshot, SqliteReader, SqliteStore, TimeRange};
pub use store::{Appended, Lease, Step, Store};
