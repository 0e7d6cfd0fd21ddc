//! Which store a deployment uses: a PostgreSQL URL when one is configured, the embedded SQLite
//! data directory otherwise.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Result, StoreError};
use crate::{PostgresStore, SqliteStore, Store};

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded store in this data directory.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by connection URL.
    Postgres(String),
}

impl StoreLocation {
    /// The location a `[store] url` names: `postgres://` or `postgresql://` URLs only (SQLite
    /// is chosen by leaving the url out and setting the data directory).
    pub fn from_url(url: &str) -> Result<StoreLocation> {
        let scheme = url.split("://").next().unwrap_or_default();
        if url.contains("://") && matches!(scheme, "postgres" | "postgresql") {
            Ok(StoreLocation::Postgres(url.to_owned()))
        } else {
            Err(StoreError::InvalidUrl {
                url: crate::postgres::redact(url),
                reason: "expected a PostgreSQL URL, postgres://user@host:port/database \
                         (leave the url out to use the embedded store in the data directory)"
                    .to_owned(),
            })
        }
    }

    /// What to show an operator (no credentials).
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sqlite(dir) => format!("SQLite in {}", dir.display()),
            StoreLocation::Postgres(url) => {
                format!("PostgreSQL at {}", crate::postgres::redact(url))
            }
        }
    }
}

/// Opens the store at `location`. Blocking: call it off any async runtime.
pub fn open(location: &StoreLocation) -> Result<Arc<dyn Store>> {
    Ok(match location {
        StoreLocation::Sqlite(dir) => Arc::new(SqliteStore::open(dir)?),
        StoreLocation::Postgres(url) => Arc::new(PostgresStore::open(url)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_urls_name_a_shared_store() {
        assert_eq!(
            StoreLocation::from_url("postgres://u@h/db").unwrap(),
            StoreLocation::Postgres("postgres://u@h/db".to_owned())
        );
        assert!(StoreLocation::from_url("postgresql://u@h/db").is_ok());
        for bad in ["mysql://u:pw@h/db", "./data", "sqlite://x"] {
            let e = StoreLocation::from_url(bad).unwrap_err().to_string();
            assert!(e.contains("expected a PostgreSQL URL"), "{e}");
            assert!(!e.contains("pw@"), "password shown: {e}");
        }
    }
}
