//! Throughput of the SQLite store's hot paths: appending batches of 1,000 outcome events with
//! fresh ids and with ids already stored, replaying the log, and reopening a data directory
//! (which rebuilds the set of stored event ids).
//!
//! Run with `cargo bench -p rampart-store --bench append`; `RAMPART_BENCH_EVENTS` sets the number
//! of events (default 1,000,000).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rampart_core::{OutcomeEvent, Record};
use rampart_store::{SqliteStore, Store, StoreError};

const BATCH: usize = 1_000;

/// A batch of events with pseudo-random 32-hex-digit ids and all seven fields set.
fn batch(index: usize) -> Vec<Record> {
    (0..BATCH)
        .map(|i| {
            let n = (index * BATCH + i) as u64;
            let id = xxhash_rust::xxh3::xxh3_128_with_seed(&n.to_le_bytes(), 0x5eed);
            Record::Event(OutcomeEvent {
                id: format!("{id:032x}"),
                kind: "purchase".to_owned(),
                unit: format!("user-{}", n % 100_003),
                model: "checkout-recs".to_owned(),
                value: Some((n % 9_973) as f64 * 0.25),
                ts: 1_700_000_000_000 + n as i64,
                attributes: BTreeMap::from([("country".to_owned(), "fr".to_owned())]),
            })
        })
        .collect()
}

/// CPU time used by this process so far (user + system), from `/proc/self/stat`; zero where that
/// file does not exist. On a shared machine it is steadier than wall time.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name, which ends with the last ')'; utime and stime are the 14th
    // and 15th fields of the line, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Times `f`, which handles `n` elements, and prints its rate per wall second and per CPU second.
fn measure<T>(label: &str, n: usize, f: impl FnOnce() -> T) -> T {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let out = f();
    let (wall, cpu) = (wall.elapsed(), cpu_time().saturating_sub(cpu));
    let per = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "{label:<26}{:>12.0} /s wall {:>12.0} /s cpu   ({n} in {:.3} s wall, {:.2} s cpu)",
        per(wall),
        per(cpu),
        wall.as_secs_f64(),
        cpu.as_secs_f64()
    );
    out
}

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
    measure("append, fresh ids", total, || {
        for b in &batches {
            let appended = store.append(b)?;
            assert_eq!(appended.duplicates, 0, "the bench ids must be distinct");
        }
        Ok::<_, StoreError>(())
    })?;

    let dup_batches = &batches[..batches.len().min(200)];
    measure("append, all duplicates", dup_batches.len() * BATCH, || {
        for b in dup_batches {
            let appended = store.append(b)?;
            assert_eq!(appended.duplicates, BATCH, "every id was stored before");
        }
        Ok::<_, StoreError>(())
    })?;

    let mut replayed = 0usize;
    measure("replay", total, || {
        store.replay(0, &mut |_, _| replayed += 1)
    })?;
    assert_eq!(replayed, total);
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
