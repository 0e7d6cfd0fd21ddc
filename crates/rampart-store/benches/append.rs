//! Throughput of the SQLite store's hot paths: appending batches of 1,000 outcome events with
//! fresh ids and with ids already stored, replaying the log, and reopening a data directory
//! (which rebuilds the set of stored event ids).
//!
//! Run with `cargo bench -p rampart-store --bench append`; `RAMPART_BENCH_EVENTS` sets the number
//! of events (default 1,000,000).

use std::path::Path;

use rampart_core::Record;
use rampart_store::{SqliteStore, Store};

mod common;

use common::{append_and_replay, batch, measure, BATCH};

/// The same rows inserted with plain prepared statements into a table of the same shape, same
/// settings, no dedup and no store: what SQLite alone costs on this machine right now.
fn insert_raw(dir: &Path, batches: &[Vec<Record>]) -> rusqlite::Result<()> {
    let mut conn = rusqlite::Connection::open(dir.join("floor.db"))?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL, \
         unit TEXT NOT NULL, model TEXT NOT NULL, value DOUBLE PRECISION, ts BIGINT NOT NULL, \
         attributes TEXT NOT NULL)",
    )?;
    let mut seq = 0i64;
    for b in batches {
        let tx = conn.transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
            for record in b {
                if let Record::Event(e) = record {
                    seq += 1;
                    insert.execute(rusqlite::params![
                        seq,
                        e.id,
                        e.kind,
                        e.unit,
                        e.model,
                        e.value,
                        e.ts,
                        r#"{"country":"fr"}"#
                    ])?;
                }
            }
        }
        tx.commit()?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = std::env::var("RAMPART_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let batches: Vec<Vec<Record>> = (0..events.div_ceil(BATCH)).map(batch).collect();
    let total = batches.len() * BATCH;
    let dir = tempfile::tempdir()?;
    println!(
        "rampart-store append bench: {total} events in batches of {BATCH}, WAL, synchronous=FULL"
    );

    let floor_dir = tempfile::tempdir()?;
    measure("raw SQLite insert (floor)", total, || {
        insert_raw(floor_dir.path(), &batches)
    })?;
    drop(floor_dir);

    let store = SqliteStore::open(dir.path())?;
    append_and_replay(&store, "append, fresh ids", &batches)?;
    drop(store);

    // Reading the ids alone, to show what hashing them adds to a reopen.
    let conn = rusqlite::Connection::open(dir.path().join("rampart.db"))?;
    let bytes = measure("scan ids, no hashing", total, || {
        let mut bytes = 0usize;
        let mut stmt = conn.prepare("SELECT seq, id FROM events")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            bytes += row.get_ref(1)?.as_str()?.len();
        }
        Ok::<_, Box<dyn std::error::Error>>(bytes)
    })?;
    assert_eq!(bytes, total * 32);
    drop(conn);

    let store = measure("reopen (rebuilds id set)", total, || {
        SqliteStore::open(dir.path())
    })?;
    assert_eq!(store.count_records()?, (0, total as u64));
    Ok(())
}
