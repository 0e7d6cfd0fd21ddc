//! [`PostgresStore`]: the shared store, one PostgreSQL database (or one schema of it).
//!
//! # Durability
//! An append is one transaction; when it returns Ok, PostgreSQL has committed it (with the
//! server's `synchronous_commit`, on by default, the commit record is flushed), so an
//! acknowledged append survives a crash of rampart or of the database server.
//!
//! # Ordering and idempotence
//! See [`schema`]: batches are numbered in commit order from a one-row counter, and event ids
//! are deduplicated by a UNIQUE index on their 128-bit hash, so what is stored does not depend
//! on which process wrote it or how often a batch was retried.
//!
//! # One writer per schema, or several that agree who decides
//! [`PostgresStore::open`] holds a session advisory lock on the schema for the store's lifetime
//! and refuses a schema whose lock another process holds, as the SQLite store refuses a data
//! directory whose lock file is held: `rampart serve` decides in the process that writes.
//! [`PostgresStore::open_shared`] takes no lock; the log stays one ordered, deduplicated log
//! whatever number of processes append to it.
//!
//! # Connections
//! Two sessions: the writer's (appends, entity, config and decision writes; it holds the lock)
//! and a reader's (replay and queries), so a long replay does not hold up appends. Replay reads
//! from one REPEATABLE READ snapshot. A session lost (database restarted, network cut) is opened
//! again by the next call, which fails with [`StoreError::Unavailable`] while the database
//! cannot be reached; the writer's session takes the lock again when it reconnects.
//!
//! The `postgres` client runs its own small runtime and must not be used from inside an async
//! task: callers use threads or `spawn_blocking`, as for every store.

mod log;
mod meta;
mod schema;

use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postgres::{Client, Config, NoTls};
use rampart_core::{Decision, EntityKind, EntityRecord, Millis, Record};

use crate::error::{Result, StoreError};
use crate::store::{Appended, Lease, Step, Store};

/// How long opening a session may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `open` waits for the writer lock: the lock of a process that just died is released
/// only once PostgreSQL notices its session has ended (a restart right after a crash meets it).
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Session settings: a transaction left open by a stalled process must not hold locks (or the
/// log's numbering) for long, and no statement may wait on a lock for ever.
const SESSION_SETTINGS: &str = "SET idle_in_transaction_session_timeout = '10s'; \
     SET lock_timeout = '10s'; SET statement_timeout = '120s'";

/// The shared store. See the module documentation for its design.
pub struct PostgresStore {
    config: Config,
    /// Where the store lives, for messages (never the password).
    location: String,
    writer: Mutex<Session>,
    reader: Mutex<Session>,
}

/// One database session, reopened when lost.
struct Session {
    client: Option<Client>,
    /// Whether this session holds the schema's writer lock (taken again on reconnect).
    holds_lock: bool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, or any form the
    /// `postgres` crate accepts, e.g. with `?options=-csearch_path%3Dmy_schema` to use a
    /// schema), takes the schema's writer lock and applies pending migrations.
    pub fn open(url: &str) -> Result<PostgresStore> {
        PostgresStore::connect_to(url, true)
    }

    /// Like [`PostgresStore::open`] but without the writer lock, for processes that share the
    /// schema and agree by other means which of them decides. Appends from every such process
    /// are numbered in one commit order and deduplicated against each other.
    pub fn open_shared(url: &str) -> Result<PostgresStore> {
        PostgresStore::connect_to(url, false)
    }

    /// Opens a store to read it (exports) beside the process that writes it: no lock, no
    /// migration; a schema without rampart's tables is `Missing`, one at another version is
    /// `SchemaTooOld` / `SchemaTooNew`.
    pub fn open_reader(url: &str) -> Result<PostgresStore> {
        let store = PostgresStore::unopened(url, false)?;
        store.read(|client| schema::check(client, &store.location))?;
        Ok(store)
    }

    fn connect_to(url: &str, exclusive: bool) -> Result<PostgresStore> {
        let store = PostgresStore::unopened(url, exclusive)?;
        let started = std::time::Instant::now();
        loop {
            match store.session(&store.writer) {
                Err(StoreError::InUse { .. }) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
                Ok(_) => break,
            }
        }
        {
            let mut writer = store.session(&store.writer)?;
            let client = writer.client.as_mut().expect("session is open");
            schema::migrate(client)?;
        }
        Ok(store)
    }

    /// A store whose sessions open on first use.
    fn unopened(url: &str, exclusive: bool) -> Result<PostgresStore> {
        let mut config = Config::from_str(url).map_err(|e| StoreError::InvalidUrl {
            url: redact(url),
            reason: format!(
                "{e}; expected postgres://user[:password]@host[:port]/database[?param=value]"
            ),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("rampart");
        }
        // So a session cut off by the network is noticed (and its lock released) in minutes,
        // not hours.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        let location = describe(&config);
        let store = PostgresStore {
            config,
            location,
            writer: Mutex::new(Session {
                client: None,
                holds_lock: exclusive,
            }),
            reader: Mutex::new(Session {
                client: None,
                holds_lock: false,
            }),
        };
        Ok(store)
    }

    /// Where the store lives (host, port, database; no credentials).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn connect(&self, holds_lock: bool) -> Result<Client> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(SESSION_SETTINGS)?;
        if holds_lock {
            let locked: bool = client
                .query_one(
                    &format!("SELECT pg_try_advisory_lock({})", schema::LOCK_KEY),
                    &[&2i64],
                )?
                .get(0);
            if !locked {
                return Err(StoreError::InUse {
                    database: self.location.clone(),
                });
            }
        }
        Ok(client)
    }

    /// The session behind `mutex`, opened again if it was lost.
    fn session<'a>(&self, mutex: &'a Mutex<Session>) -> Result<MutexGuard<'a, Session>> {
        let mut session = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        if session.client.as_ref().is_none_or(Client::is_closed) {
            session.client = None;
            session.client = Some(self.connect(session.holds_lock)?);
        }
        Ok(session)
    }

    fn with<T>(
        &self,
        mutex: &Mutex<Session>,
        f: impl FnOnce(&mut Client) -> Result<T>,
    ) -> Result<T> {
        let mut session = self.session(mutex)?;
        let result = f(session.client.as_mut().expect("session is open"));
        if matches!(result, Err(StoreError::Unavailable { .. })) {
            // The session may be broken in a way the client has not noticed: start afresh.
            session.client = None;
        }
        result
    }

    fn write<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        self.with(&self.writer, f)
    }

    fn read<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        self.with(&self.reader, f)
    }
}

impl Drop for PostgresStore {
    /// The client blocks on its own runtime when it closes, which is not allowed on a thread
    /// that runs an async runtime; so the sessions are closed on a thread of their own.
    fn drop(&mut self) {
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let unlock = writer.holds_lock;
        let mut sessions = [
            self.writer
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .client
                .take(),
            self.reader
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .client
                .take(),
        ];
        let _ = std::thread::spawn(move || {
            // Released before the drop returns, so a store opened next finds the lock free
            // (closing the session releases it too, but only once the backend has exited).
            if let (true, Some(writer)) = (unlock, sessions[0].as_mut()) {
                let _ = writer.execute(
                    &format!("SELECT pg_advisory_unlock({})", schema::LOCK_KEY),
                    &[&2i64],
                );
            }
            drop(sessions)
        })
        .join();
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// `host:port/dbname` of a config, for messages.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// `url` with any password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    rampart_core::config::redact_password(url)
}

impl Store for PostgresStore {
    fn append(&self, records: &[Record]) -> Result<Appended> {
        self.write(|c| log::append(c, records))
    }

    fn replay(&self, from_seq: i64, f: &mut dyn FnMut(i64, Record)) -> Result<()> {
        self.read(|c| log::replay(c, from_seq, f))
    }

    fn count_records(&self) -> Result<(u64, u64)> {
        self.read(log::count_records)
    }

    fn load_entities(&self) -> Result<Vec<EntityRecord>> {
        self.read(meta::load_entities)
    }

    fn load_entity(&self, kind: EntityKind, name: &str) -> Result<Option<EntityRecord>> {
        self.read(|c| meta::load_entity(c, kind, name))
    }

    fn save_entity(&self, record: &EntityRecord) -> Result<()> {
        self.write(|c| meta::save_entity(c, record))
    }

    fn rename_entity(&self, kind: EntityKind, from: &str, to: &str) -> Result<()> {
        self.write(|c| meta::rename_entity(c, kind, from, to))
    }

    fn save_config(&self, text: &str, ts: Millis) -> Result<i64> {
        self.write(|c| meta::save_config(c, text, ts))
    }

    fn latest_config(&self) -> Result<Option<(i64, String)>> {
        self.read(meta::latest_config)
    }

    fn append_decision(&self, decision: &Decision) -> Result<i64> {
        self.write(|c| meta::append_decision(c, decision))
    }

    fn decisions(&self, entity: Option<&str>, limit: usize) -> Result<Vec<Decision>> {
        self.read(|c| meta::decisions(c, entity, limit))
    }

    fn commit(&self, step: &Step<'_>) -> Result<Vec<i64>> {
        self.write(|c| meta::commit(c, step))
    }

    fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.write(|c| meta::acquire_lease(c, name, holder, ttl))
    }

    fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.write(|c| meta::release_lease(c, lease))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/rampart"),
            "postgres://app:***@db:5432/rampart"
        );
        assert_eq!(
            redact("postgres://app@db/rampart"),
            "postgres://app@db/rampart"
        );
        assert_eq!(
            redact("host=db user=app password=s3cret dbname=r"),
            "host=db user=app password=*** dbname=r"
        );
    }

    #[test]
    fn a_bad_url_is_an_invalid_url_error() {
        match PostgresStore::open("postgres://app:pw@db:notaport/x") {
            Err(StoreError::InvalidUrl { url, reason }) => {
                assert_eq!(url, "postgres://app:***@db:notaport/x");
                assert!(reason.contains("expected postgres://user"), "{reason}");
            }
            other => panic!("expected InvalidUrl, got {other:?}"),
        }
    }

    #[test]
    fn an_unreachable_database_is_unavailable() {
        // Port 1 on loopback: nothing listens there.
        match PostgresStore::open("postgres://postgres@127.0.0.1:1/rampart?connect_timeout=2") {
            Err(e @ StoreError::Unavailable { .. }) => assert!(e.is_transient()),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
