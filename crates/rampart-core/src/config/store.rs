//! The `[store]` section: which database holds the log, the entities and the decision log.
//! Left out, rampart keeps everything in the embedded SQLite store in `server.data_dir`.

use serde::{Deserialize, Serialize};

use super::secret::{has_password, redact_password};

/// `[store]`: a PostgreSQL database shared by every replica, named by URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user@host:port/database`; without a password, since the config text is
    /// stored with every config version (use `url_env` for a URL with credentials).
    #[serde(default)]
    pub url: Option<String>,
    /// An environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
}

impl StoreConfig {
    /// The problems of the section, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.url.is_some() && self.url_env.is_some() {
            out.push((
                "store.url",
                "give either url or url_env, not both".to_owned(),
            ));
        }
        if let Some(url) = &self.url {
            let scheme = url.split("://").next().unwrap_or_default();
            if !url.contains("://") || !matches!(scheme, "postgres" | "postgresql") {
                out.push((
                    "store.url",
                    format!(
                        "expected a PostgreSQL URL such as \"postgres://rampart@db:5432/rampart\", \
                         found {:?}; leave [store] out to use the embedded store in server.data_dir",
                        redact_password(url)
                    ),
                ));
            } else if has_password(url) {
                out.push((
                    "store.url",
                    "holds a password, which would be stored with every config version; put \
                     the URL in an environment variable and name it with store.url_env (or set \
                     RAMPART_STORE_URL)"
                        .to_owned(),
                ));
            }
        }
        if self.url_env.as_deref().is_some_and(|v| v.trim().is_empty()) {
            out.push((
                "store.url_env",
                "must name an environment variable".to_owned(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(url: Option<&str>, url_env: Option<&str>) -> Vec<(&'static str, String)> {
        StoreConfig {
            url: url.map(str::to_owned),
            url_env: url_env.map(str::to_owned),
        }
        .problems()
    }

    #[test]
    fn a_postgres_url_without_password_is_fine() {
        assert!(problems(Some("postgres://rampart@db:5432/rampart"), None).is_empty());
        assert!(problems(Some("postgresql://db/rampart?sslmode=disable"), None).is_empty());
        assert!(problems(None, Some("DATABASE_URL")).is_empty());
        assert!(problems(None, None).is_empty());
    }

    #[test]
    fn passwords_and_other_schemes_are_refused() {
        let p = problems(Some("postgres://app:s3cret@db/rampart"), None);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "store.url");
        assert!(p[0].1.contains("store.url_env"), "{}", p[0].1);
        assert!(!p[0].1.contains("s3cret"));
        let p = problems(Some("mysql://app:s3cret@db/rampart"), None);
        assert!(p[0].1.contains("expected a PostgreSQL URL"), "{}", p[0].1);
        assert!(!p[0].1.contains("s3cret"), "{}", p[0].1);
        let p = problems(Some("postgres://db/x"), Some("DATABASE_URL"));
        assert!(p[0].1.contains("not both"));
        assert_eq!(problems(None, Some(" "))[0].0, "store.url_env");
    }
}
