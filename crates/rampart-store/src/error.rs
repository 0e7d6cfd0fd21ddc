//! The store's error type: every failure names what failed, with its context kept as data.

use rampart_core::EntityKind;

/// Errors from the store; the message says what failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("cannot open the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the data directory {path} is in use by another process (it holds the lock on {lock_file}); \
         stop that process or choose another data directory"
    )]
    Locked { path: String, lock_file: String },
    #[error(
        "the database schema is at version {found} but this build of rampart knows versions up to \
         {known}; run a newer rampart"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("no rampart store in {path}: {db_file} does not exist")]
    Missing { path: String, db_file: String },
    #[error(
        "the database schema is at version {found} but this build of rampart reads version \
         {known}; start `rampart serve` on the data directory once to migrate it"
    )]
    SchemaTooOld { found: i64, known: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("record {index} of the append cannot be stored: {reason}")]
    InvalidRecord { index: usize, reason: String },
    #[error("no {kind} named {name:?} is stored", kind = .kind.as_str())]
    EntityNotFound { kind: EntityKind, name: String },
    #[error("a {kind} named {name:?} is already stored", kind = .kind.as_str())]
    EntityExists { kind: EntityKind, name: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;
