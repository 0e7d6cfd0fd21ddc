//! The store's error type: every failure names what failed, with its context kept as data.
//!
//! No variant names a database driver: callers see which backend failed and how, and whether
//! retrying can help ([`StoreError::is_transient`]), whatever engine sits behind the [`crate::Store`].

use rampart_core::EntityKind;

/// Errors from the store; the message says what failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("{backend} error: {message}")]
    Database {
        backend: &'static str,
        message: String,
    },
    /// The database cannot be reached (connection refused, lost or timed out); retrying later
    /// can succeed, and nothing of the failed call was acknowledged.
    #[error("{backend} is unavailable: {message}")]
    Unavailable {
        backend: &'static str,
        message: String,
    },
    #[error("invalid store url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("store.url_env names the environment variable {var}, which is not set")]
    UrlVariableUnset { var: String },
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
        "the database {database} is in use by another rampart process (it holds the store's \
         advisory lock); stop that process or point this one at another database or schema"
    )]
    InUse { database: String },
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
    /// A fenced step was refused: its holder no longer holds the lease in that epoch.
    #[error(
        "{holder} no longer holds the lease {lease:?} in epoch {epoch}; the step was not written"
    )]
    Fenced {
        lease: String,
        holder: String,
        epoch: i64,
    },
}

impl StoreError {
    /// True when the same call may succeed if retried later (the database was unreachable or
    /// the transaction lost a conflict), false when retrying cannot help.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        let message = e.to_string();
        if busy {
            StoreError::Unavailable {
                backend: "SQLite",
                message,
            }
        } else {
            StoreError::Database {
                backend: "SQLite",
                message,
            }
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        use postgres::error::SqlState;
        // Lost connections and the conflicts PostgreSQL asks clients to retry are transient.
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        let transient = e.is_closed()
            || (e.as_db_error().is_none() && io)
            || e.code().is_some_and(|code| {
                code.code().starts_with("08")
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::ADMIN_SHUTDOWN
                    || *code == SqlState::CANNOT_CONNECT_NOW
                    || *code == SqlState::QUERY_CANCELED
                    || *code == SqlState::LOCK_NOT_AVAILABLE
            });
        let message = match e.as_db_error() {
            Some(db) => match db.detail() {
                Some(detail) => format!("{}: {detail}", db.message()),
                None => db.message().to_owned(),
            },
            None => e.to_string(),
        };
        if transient {
            StoreError::Unavailable {
                backend: "PostgreSQL",
                message,
            }
        } else {
            StoreError::Database {
                backend: "PostgreSQL",
                message,
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;
