//! [`SqliteStore`]: the embedded store, one SQLite file in a data directory.
//!
//! # Durability
//! The database runs in WAL mode with `synchronous=FULL`: when a commit returns, the WAL has been
//! synced, so an acknowledged append survives a crash or power loss.
//!
//! # Idempotent ingest without a UNIQUE index
//! A UNIQUE index on random event ids rewrites B-tree pages all over the file at every commit and
//! cuts SQLite's insert rate by about twenty times. So the events table has no index on `id`;
//! instead the writer keeps the 128-bit xxh3 hash of every stored event id in memory
//! (see `crate::dedup`), rebuilt at open by scanning the events table. An append checks each event id
//! against that set and against the ids earlier in the same call, inserts the fresh records in
//! one transaction, and adds their hashes to the set only once the commit has succeeded, so a
//! failed append leaves both the file and the set as they were.
//!
//! The trade-offs: the set costs memory (16 bytes of hash plus the table's slack, 20 to 40 bytes
//! per stored event, so under 400 MB for ten million events) and a scan at open (about a million
//! events a second on a 2-core machine; see the append bench), and the guarantee holds only while
//! one process writes the data directory. That is enforced: [`SqliteStore::open`] takes an
//! advisory lock on `rampart.lock` and refuses a directory whose lock is held. Serving from
//! several replicas is the PostgreSQL store's job.
//!
//! # Concurrency
//! The store is `Send + Sync`. Writes go through one connection behind a mutex; replay, the
//! decision log and the other reads use a second connection, so a long replay does not block
//! appends (WAL readers see a snapshot and do not stop the writer). Another process reads the
//! same directory through [`SqliteReader`], which takes no lock.

mod meta;
mod reader;
mod records;
mod schema;

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fs4::fs_std::FileExt;
use rampart_core::{Decision, EntityKind, EntityRecord, Millis, Record};
use rusqlite::{Connection, OpenFlags};

pub(crate) use self::meta::fenced;
pub use self::reader::{Snapshot, SqliteReader, TimeRange};
use self::records::Log;
use crate::error::{Result, StoreError};
use crate::store::{Appended, Lease, Step, Store};

/// Name of the database file inside the data directory.
const DB_FILE: &str = "rampart.db";
/// Name of the lock file that keeps a second process out of the data directory.
const LOCK_FILE: &str = "rampart.lock";
/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded store. See the module documentation for its design.
pub struct SqliteStore {
    log: Mutex<Log>,
    /// None for an in-memory store, whose database only the writer connection can see.
    reader: Option<Mutex<Connection>>,
    /// Held for the store's lifetime: closing the file releases the advisory lock.
    _lock: Option<File>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`: takes the directory's lock, opens
    /// `rampart.db` in WAL mode with `synchronous=FULL`, applies pending schema migrations and
    /// loads the ids of the stored events.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        let dir_error = |source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(dir_error)?;
        let lock_path = data_dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(dir_error)?;
        if !lock.try_lock_exclusive().map_err(dir_error)? {
            return Err(StoreError::Locked {
                path: data_dir.display().to_string(),
                lock_file: lock_path.display().to_string(),
            });
        }

        let db_path = data_dir.join(DB_FILE);
        let mut writer = Connection::open(&db_path)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(dir_error(std::io::Error::other(format!(
                "the file system does not support SQLite's WAL mode (got journal mode {mode})"
            ))));
        }
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        schema::migrate(&mut writer)?;

        let reader = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        reader.busy_timeout(BUSY_TIMEOUT)?;

        Ok(SqliteStore {
            log: Mutex::new(Log::load(writer)?),
            reader: Some(Mutex::new(reader)),
            _lock: Some(lock),
        })
    }

    /// A store that lives in memory only and is gone when dropped; for tests and simulations.
    pub fn open_in_memory() -> Result<SqliteStore> {
        let mut conn = Connection::open_in_memory()?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            log: Mutex::new(Log::load(conn)?),
            reader: None,
            _lock: None,
        })
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    /// Runs `f` on the read connection (the writer's for an in-memory store).
    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        match &self.reader {
            Some(reader) => f(&mut lock(reader)),
            None => f(&mut self.log().conn),
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("in_memory", &self.reader.is_none())
            .finish_non_exhaustive()
    }
}

/// A panic while a lock was held cannot have left the state half-changed: an open transaction
/// rolls back when dropped and the in-memory log state changes only after a commit. So a
/// poisoned lock is taken over rather than turned into an error for ever after.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store for SqliteStore {
    fn append(&self, records: &[Record]) -> Result<Appended> {
        self.log().append(records)
    }

    fn replay(&self, from_seq: i64, f: &mut dyn FnMut(i64, Record)) -> Result<()> {
        self.read(|conn| records::replay(conn, from_seq, f))
    }

    fn count_records(&self) -> Result<(u64, u64)> {
        let log = self.log();
        Ok((log.exposures, log.events))
    }

    fn load_entities(&self) -> Result<Vec<EntityRecord>> {
        self.read(|conn| meta::load_entities(conn))
    }

    fn load_entity(&self, kind: EntityKind, name: &str) -> Result<Option<EntityRecord>> {
        self.read(|conn| meta::load_entity(conn, kind, name))
    }

    fn save_entity(&self, record: &EntityRecord) -> Result<()> {
        meta::save_entity(&self.log().conn, record)
    }

    fn rename_entity(&self, kind: EntityKind, from: &str, to: &str) -> Result<()> {
        meta::rename_entity(&mut self.log().conn, kind, from, to)
    }

    fn save_config(&self, text: &str, ts: Millis) -> Result<i64> {
        meta::save_config(&mut self.log().conn, text, ts)
    }

    fn latest_config(&self) -> Result<Option<(i64, String)>> {
        self.read(|conn| meta::latest_config(conn))
    }

    fn append_decision(&self, decision: &Decision) -> Result<i64> {
        meta::append_decision(&self.log().conn, decision)
    }

    fn decisions(&self, entity: Option<&str>, limit: usize) -> Result<Vec<Decision>> {
        self.read(|conn| meta::decisions(conn, entity, limit))
    }

    fn commit(&self, step: &Step<'_>) -> Result<Vec<i64>> {
        meta::commit(&mut self.log().conn, step)
    }

    fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        meta::acquire_lease(&self.log().conn, name, holder, ttl)
    }

    fn release_lease(&self, lease: &Lease) -> Result<()> {
        meta::release_lease(&self.log().conn, lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::{Exposure, OutcomeEvent, Reason};

    fn event(id: &str) -> Record {
        Record::Event(OutcomeEvent {
            id: id.to_owned(),
            kind: "purchase".to_owned(),
            unit: "u1".to_owned(),
            model: "m".to_owned(),
            value: Some(1.5),
            ts: 7,
            attributes: Default::default(),
        })
    }

    fn exposure() -> Record {
        Record::Exposure(Exposure {
            ts: 3,
            model: "m".to_owned(),
            unit: "u1".to_owned(),
            variant: "v1".to_owned(),
            reason: Reason::Default,
            entity: None,
            assignment_id: 1,
            segments: Default::default(),
        })
    }

    fn replay_all(store: &SqliteStore) -> Result<Vec<(i64, Record)>> {
        let mut out = Vec::new();
        store.replay(0, &mut |seq, r| out.push((seq, r)))?;
        Ok(out)
    }

    fn corrupt(store: &SqliteStore, sql: &str) -> StoreError {
        store.log().conn.execute(sql, []).unwrap();
        match replay_all(store) {
            Err(e @ StoreError::Corrupt(_)) => e,
            other => panic!("expected Corrupt after {sql}, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_rows_are_reported_not_panicked_on() {
        let store = SqliteStore::open_in_memory().unwrap();
        store.append(&[exposure(), event("a")]).unwrap();
        assert_eq!(replay_all(&store).unwrap().len(), 2);

        let e = corrupt(&store, "UPDATE exposures SET reason = 'bogus'");
        assert!(e.to_string().contains("unknown reason \"bogus\""), "{e}");
        store
            .log()
            .conn
            .execute("UPDATE exposures SET reason = 'default'", [])
            .unwrap();

        let e = corrupt(&store, "UPDATE events SET attributes = '{not json'");
        assert!(
            e.to_string()
                .contains("column attributes is not valid JSON"),
            "{e}"
        );
        store
            .log()
            .conn
            .execute("UPDATE events SET attributes = '{}'", [])
            .unwrap();

        let e = corrupt(&store, "UPDATE events SET ts = 'yesterday'");
        assert!(e.to_string().contains("column ts cannot be read"), "{e}");
        store
            .log()
            .conn
            .execute("UPDATE events SET ts = 7", [])
            .unwrap();

        let e = corrupt(&store, "UPDATE exposures SET entity_kind = 'rollout'");
        assert!(e.to_string().contains("both be set or both be null"), "{e}");
        store
            .log()
            .conn
            .execute("UPDATE exposures SET entity_kind = NULL", [])
            .unwrap();

        let e = corrupt(&store, "UPDATE events SET seq = 1");
        assert!(e.to_string().contains("seq 1 is used by both"), "{e}");
    }

    #[test]
    fn corrupt_entity_and_decision_rows_are_reported() {
        let store = SqliteStore::open_in_memory().unwrap();
        store
            .log()
            .conn
            .execute_batch(
                "INSERT INTO entities VALUES ('gadget', 'x', 1, '{}', 0);
                 INSERT INTO decisions (ts, entity_kind, entity, action, from_state, to_state, \
                 reason, actor, evidence) VALUES (0, 'rollout', 'r', 'a', 'f', 't', 'r', 'c', '[');",
            )
            .unwrap();
        assert!(matches!(store.load_entities(), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            store.decisions(None, 10),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SqliteStore>();
    }
}
