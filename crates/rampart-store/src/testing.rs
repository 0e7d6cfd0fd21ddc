//! A fresh PostgreSQL schema per test, for the tests of every crate that runs against the
//! shared store.
//!
//! The database comes from `RAMPART_TEST_PG_URL` (default: the local server's `test` database,
//! `postgres://postgres@127.0.0.1:5432/test`). Each [`TestSchema`] creates a schema of its own
//! in it and drops it when dropped, so tests run in parallel without seeing each other. When
//! no PostgreSQL answers, [`TestSchema::create`] returns None and the test says it skipped,
//! unless `RAMPART_REQUIRE_PEERS=1`, where a missing peer is a failure.

use std::sync::atomic::{AtomicU32, Ordering};

/// The default database of the tests.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema that exists for one test.
pub struct TestSchema {
    admin: String,
    name: String,
}

impl TestSchema {
    /// Creates a new empty schema, or None (after printing why) when PostgreSQL is not there
    /// and peers are not required.
    pub fn create() -> Option<TestSchema> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin =
            std::env::var("RAMPART_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_TEST_URL.to_owned());
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // A schema of that name can only be left over from a killed run of the same pid.
        let created = run(
            &admin,
            &format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"),
        );
        match created {
            Ok(()) => Some(TestSchema { admin, name }),
            Err(e) if std::env::var("RAMPART_REQUIRE_PEERS").as_deref() == Ok("1") => {
                panic!("PostgreSQL at {admin} is required (RAMPART_REQUIRE_PEERS=1): {e}")
            }
            Err(e) => {
                eprintln!("skipped: PostgreSQL not reachable at {admin}: {e}");
                None
            }
        }
    }

    /// The URL of a session whose search path is this schema.
    pub fn url(&self) -> String {
        let sep = if self.admin.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.admin, self.name)
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL in the schema (to inspect or damage what a test stored).
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        run(&self.url(), sql)
    }

    /// Runs a query in the schema and returns the first column of each row as text.
    pub fn query(&self, sql: &str) -> Result<Vec<Option<String>>, String> {
        let url = self.url();
        let sql = sql.to_owned();
        on_thread(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            let rows = client.simple_query(&sql)?;
            Ok(rows
                .iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
                    _ => None,
                })
                .collect())
        })
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let _ = run(
            &self.admin,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

fn run(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    on_thread(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        client.batch_execute(&sql)?;
        Ok(())
    })
}

/// The blocking client may not run on a thread that runs an async runtime (tests often do).
fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, postgres::Error> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(f)
        .join()
        .map_err(|_| "the PostgreSQL client panicked".to_owned())?
        .map_err(|e| e.to_string())
}
