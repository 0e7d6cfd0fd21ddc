//! [`SqliteReader`]: a read-only view of a data directory, for exports and other offline reads
//! while the server keeps running.
//!
//! It takes no lock and loads no event ids: SQLite's WAL mode lets readers work beside the one
//! writer, each reader seeing a snapshot. A [`Snapshot`] streams the rows of one table whose `ts`
//! falls in a [`TimeRange`], in log order, one row at a time.

use std::path::Path;

use rampart_core::{Decision, Exposure, ImpressionRecord, Millis, OutcomeEvent};
use rusqlite::{params, Connection, OpenFlags, Row, Transaction};

use super::meta::{decision_from_row, SELECT_DECISIONS};
use super::records::{event_row, exposure_row, impression_row};
use super::{schema, BUSY_TIMEOUT, DB_FILE};
use crate::error::{Result, StoreError};

/// The rows whose `ts` is in the range, by table; each selects the columns its decoder reads.
const EXPOSURES_BETWEEN: &str = "SELECT \
    seq, ts, model, unit, variant, reason, entity_kind, entity_name, assignment_id, segments \
    FROM exposures WHERE ts >= ?1 AND (?2 IS NULL OR ts < ?2) ORDER BY seq";
const EVENTS_BETWEEN: &str = "SELECT seq, id, kind, unit, model, value, ts, attributes \
    FROM events WHERE ts >= ?1 AND (?2 IS NULL OR ts < ?2) ORDER BY seq";
const IMPRESSIONS_BETWEEN: &str = "SELECT \
    seq, ts, model, experiment, unit, impression_id, impression, variants \
    FROM impressions WHERE ts >= ?1 AND (?2 IS NULL OR ts < ?2) ORDER BY seq";

/// A half-open range of timestamps: `from` included, `to` excluded; `None` leaves that side open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

impl TimeRange {
    /// Whether `ts` falls in the range.
    pub fn contains(&self, ts: Millis) -> bool {
        self.from.is_none_or(|from| ts >= from) && self.to.is_none_or(|to| ts < to)
    }
}

/// A read-only connection to the store in a data directory. See the module documentation.
pub struct SqliteReader {
    conn: Connection,
}

impl std::fmt::Debug for SqliteReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteReader").finish_non_exhaustive()
    }
}

impl SqliteReader {
    /// Opens `rampart.db` in `data_dir` read-only, without taking the directory's lock, so it
    /// works while a server writes. Fails if there is no store there or its schema is not the
    /// one this build reads (a reader cannot migrate).
    pub fn open(data_dir: &Path) -> Result<SqliteReader> {
        let db_path = data_dir.join(DB_FILE);
        if !db_path.is_file() {
            return Err(StoreError::Missing {
                path: data_dir.display().to_string(),
                db_file: db_path.display().to_string(),
            });
        }
        let conn = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let has_versions: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master \
             WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |r| r.get(0),
        )?;
        let found: i64 = if has_versions {
            conn.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )?
        } else {
            0
        };
        let known = schema::latest_version();
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        if found < known {
            return Err(StoreError::SchemaTooOld { found, known });
        }
        Ok(SqliteReader { conn })
    }

    /// Starts a snapshot: every read through it sees the store as it was at this call, whatever
    /// is appended meanwhile.
    pub fn snapshot(&mut self) -> Result<Snapshot<'_>> {
        let tx = self.conn.transaction()?;
        // A deferred transaction takes its snapshot at the first read: read now.
        tx.query_row("SELECT COUNT(*) FROM schema_migrations", [], |_| Ok(()))?;
        Ok(Snapshot { tx })
    }
}

/// One consistent view of the store; see [`SqliteReader::snapshot`]. Each method calls `f` with
/// the rows in the range in log order (sequence number, or id for decisions) and stops at the
/// first error, its own or `f`'s.
pub struct Snapshot<'a> {
    tx: Transaction<'a>,
}

impl Snapshot<'_> {
    pub fn exposures<E: From<StoreError>>(
        &self,
        range: TimeRange,
        mut f: impl FnMut(i64, Exposure) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.stream(EXPOSURES_BETWEEN, range, |row| {
            let (seq, x) = exposure_row(row)?;
            f(seq, x)
        })
    }

    pub fn events<E: From<StoreError>>(
        &self,
        range: TimeRange,
        mut f: impl FnMut(i64, OutcomeEvent) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.stream(EVENTS_BETWEEN, range, |row| {
            let (seq, e) = event_row(row)?;
            f(seq, e)
        })
    }

    pub fn impressions<E: From<StoreError>>(
        &self,
        range: TimeRange,
        mut f: impl FnMut(i64, ImpressionRecord) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.stream(IMPRESSIONS_BETWEEN, range, |row| {
            let (seq, m) = impression_row(row)?;
            f(seq, m)
        })
    }

    /// Decisions carry their id; it is their position in the log.
    pub fn decisions<E: From<StoreError>>(
        &self,
        range: TimeRange,
        mut f: impl FnMut(Decision) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let sql =
            format!("{SELECT_DECISIONS} WHERE ts >= ?1 AND (?2 IS NULL OR ts < ?2) ORDER BY id");
        self.stream(&sql, range, |row| f(decision_from_row(row)?))
    }

    fn stream<E: From<StoreError>>(
        &self,
        sql: &str,
        range: TimeRange,
        mut f: impl FnMut(&Row<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let db = |e: rusqlite::Error| E::from(StoreError::from(e));
        let mut stmt = self.tx.prepare(sql).map_err(db)?;
        let mut rows = stmt
            .query(params![range.from.unwrap_or(Millis::MIN), range.to])
            .map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            f(row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteStore, Store};
    use rampart_core::{EntityKind, Reason, Record};

    fn exposure(ts: Millis, unit: &str) -> Record {
        Record::Exposure(Exposure {
            ts,
            model: "m".to_owned(),
            unit: unit.to_owned(),
            variant: "v1".to_owned(),
            reason: Reason::Default,
            entity: None,
            assignment_id: u64::MAX,
            segments: Default::default(),
        })
    }

    fn units(reader: &mut SqliteReader, range: TimeRange) -> Vec<(i64, String)> {
        let snapshot = reader.snapshot().unwrap();
        let mut out = Vec::new();
        snapshot
            .exposures::<StoreError>(range, |seq, x| {
                out.push((seq, x.unit));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn reads_while_a_writer_holds_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .append(&[exposure(10, "a"), exposure(20, "b")])
            .unwrap();
        // The writer's lock is held: a second writer is refused, a reader is not.
        assert!(matches!(
            SqliteStore::open(dir.path()),
            Err(StoreError::Locked { .. })
        ));
        let mut reader = SqliteReader::open(dir.path()).unwrap();
        assert_eq!(
            units(&mut reader, TimeRange::default()),
            vec![(1, "a".to_owned()), (2, "b".to_owned())]
        );

        // A snapshot does not see appends made after it started; the next one does.
        let snapshot = reader.snapshot().unwrap();
        store.append(&[exposure(30, "c")]).unwrap();
        let mut seen = 0;
        snapshot
            .exposures::<StoreError>(TimeRange::default(), |_, _| {
                seen += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, 2);
        drop(snapshot);
        assert_eq!(units(&mut reader, TimeRange::default()).len(), 3);
        // The writer goes on writing while the reader is open.
        store.append(&[exposure(40, "d")]).unwrap();
        assert_eq!(store.count_records().unwrap(), (4, 0));
    }

    #[test]
    fn reads_a_directory_no_process_has_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            store.append(&[exposure(10, "a")]).unwrap();
            store
                .append_decision(&Decision {
                    id: 0,
                    ts: 15,
                    entity_kind: EntityKind::Rollout,
                    entity: "r".to_owned(),
                    action: "advance".to_owned(),
                    from_state: "stage 1".to_owned(),
                    to_state: "stage 2".to_owned(),
                    reason: "gate passed".to_owned(),
                    actor: "controller".to_owned(),
                    evidence: serde_json::json!({"p": 0.01}),
                })
                .unwrap();
        }
        let mut reader = SqliteReader::open(dir.path()).unwrap();
        assert_eq!(units(&mut reader, TimeRange::default()).len(), 1);
        let snapshot = reader.snapshot().unwrap();
        let mut decisions = Vec::new();
        snapshot
            .decisions::<StoreError>(TimeRange::default(), |d| {
                decisions.push((d.id, d.action, d.evidence));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            decisions,
            vec![(1, "advance".to_owned(), serde_json::json!({"p": 0.01}))]
        );
        // Reading made no writer out of the reader: a writer can still take the directory.
        drop(snapshot);
        SqliteStore::open(dir.path()).unwrap();
    }

    #[test]
    fn time_range_is_inclusive_at_the_start_and_exclusive_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .append(&[
                exposure(9, "a"),
                exposure(10, "b"),
                exposure(19, "c"),
                exposure(20, "d"),
            ])
            .unwrap();
        let mut reader = SqliteReader::open(dir.path()).unwrap();
        let names = |reader: &mut SqliteReader, from, to| -> Vec<String> {
            units(reader, TimeRange { from, to })
                .into_iter()
                .map(|(_, u)| u)
                .collect()
        };
        assert_eq!(names(&mut reader, Some(10), Some(20)), ["b", "c"]);
        assert_eq!(names(&mut reader, Some(10), None), ["b", "c", "d"]);
        assert_eq!(names(&mut reader, None, Some(10)), ["a"]);
        assert_eq!(names(&mut reader, Some(20), Some(20)), Vec::<String>::new());
        let range = TimeRange {
            from: Some(10),
            to: Some(20),
        };
        assert!(!range.contains(9) && range.contains(10) && range.contains(19));
        assert!(!range.contains(20));
    }

    #[test]
    fn missing_and_outdated_stores_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            SqliteReader::open(dir.path()),
            Err(StoreError::Missing { .. })
        ));
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY);
             INSERT INTO schema_migrations (version) VALUES (1);",
        )
        .unwrap();
        match SqliteReader::open(dir.path()) {
            Err(StoreError::SchemaTooOld { found, known }) => {
                assert_eq!((found, known), (1, schema::latest_version()));
            }
            other => panic!("expected SchemaTooOld, got {other:?}"),
        }
        conn.execute("INSERT INTO schema_migrations (version) VALUES (99)", [])
            .unwrap();
        assert!(matches!(
            SqliteReader::open(dir.path()),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }
}
