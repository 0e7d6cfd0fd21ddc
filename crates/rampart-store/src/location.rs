//! Which store a deployment uses: a PostgreSQL URL when one is configured, the embedded SQLite
//! data directory otherwise.

use std::path::PathBuf;
use std::sync::Arc;

use rampart_core::config::StoreConfig;

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

    /// The store a process uses: the URL it was given (`--store-url`, `RAMPART_STORE_URL`), else
    /// the config's `[store]` (its `url_env` variable, read with `env`, else its `url`), else the
    /// embedded store in `data_dir`.
    pub fn choose(
        given: Option<&str>,
        config: &StoreConfig,
        data_dir: PathBuf,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<StoreLocation> {
        let url = match (given, &config.url_env, &config.url) {
            (Some(url), _, _) => Some(url.to_owned()),
            (None, Some(var), _) => Some(
                env(var)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| StoreError::UrlVariableUnset { var: var.clone() })?,
            ),
            (None, None, url) => url.clone(),
        };
        match url {
            Some(url) => StoreLocation::from_url(&url),
            None => Ok(StoreLocation::Sqlite(data_dir)),
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
        let config = StoreConfig {
            url: Some("postgres://cfg/db".to_owned()),
            url_env: None,
        };
        let dir = PathBuf::from("d");
        let env = |_: &str| Some("postgres://env/db".to_owned());
        let choose = |given, config: &StoreConfig| {
            StoreLocation::choose(given, config, dir.clone(), env).unwrap()
        };
        assert_eq!(
            choose(Some("postgres://flag/db"), &config),
            StoreLocation::Postgres("postgres://flag/db".to_owned())
        );
        assert_eq!(
            choose(None, &config),
            StoreLocation::Postgres("postgres://cfg/db".to_owned())
        );
        let by_env = StoreConfig {
            url: None,
            url_env: Some("DATABASE_URL".to_owned()),
        };
        assert_eq!(
            choose(None, &by_env),
            StoreLocation::Postgres("postgres://env/db".to_owned())
        );
        assert_eq!(
            choose(None, &StoreConfig::default()),
            StoreLocation::Sqlite(dir.clone())
        );
        let unset = StoreLocation::choose(None, &by_env, dir.clone(), |_| None).unwrap_err();
        assert_eq!(
            unset.to_string(),
            "store.url_env names the environment variable DATABASE_URL, which is not set"
        );
        for bad in ["mysql://u:pw@h/db", "./data", "sqlite://x"] {
            let e = StoreLocation::from_url(bad).unwrap_err().to_string();
            assert!(e.contains("expected a PostgreSQL URL"), "{e}");
            assert!(!e.contains("pw@"), "password shown: {e}");
        }
    }
}
