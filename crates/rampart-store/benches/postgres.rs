//! Throughput of the PostgreSQL store against plain COPY of the same rows, in the same run:
//! durable, idempotent appends of batches of 1,000 outcome events (one transaction each) from one
//! writer and from two writers sharing the log, appends of ids already stored, and a replay.
//!
//! The floor is binary COPY of the same rows into a table without any index, one transaction per
//! batch, and one COPY of every row in a single transaction (what `psql \copy` measures).
//!
//! Run with `cargo bench -p rampart-store --bench postgres`; the database is
//! `RAMPART_TEST_PG_URL` (default the local `test` database), in a schema made for the run and
//! dropped after it; `RAMPART_BENCH_EVENTS` sets the number of events (default 1,000,000).

mod common;

use std::sync::Arc;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rampart_core::Record;
use rampart_store::testing::TestSchema;
use rampart_store::{PostgresStore, Store, StoreError};

use common::{append_and_replay, batch, measure, BATCH};

const TYPES: [Type; 7] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::FLOAT8,
    Type::INT8,
    Type::TEXT,
];

/// Binary COPY of the events' columns into `plain`, one transaction per slice of `per_tx` batches.
fn copy_plain(url: &str, batches: &[Vec<Record>], per_tx: usize) -> Result<(), postgres::Error> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute(
        "DROP TABLE IF EXISTS plain; CREATE TABLE plain (id TEXT, kind TEXT, unit TEXT, \
         model TEXT, value DOUBLE PRECISION, ts BIGINT, attributes TEXT)",
    )?;
    for group in batches.chunks(per_tx) {
        let mut tx = client.transaction()?;
        let sink = tx.copy_in("COPY plain FROM STDIN BINARY")?;
        let mut w = BinaryCopyInWriter::new(sink, &TYPES);
        for record in group.iter().flatten() {
            if let Record::Event(e) = record {
                let attributes = r#"{"country":"fr"}"#;
                let row: [&(dyn ToSql + Sync); 7] = [
                    &e.id,
                    &e.kind,
                    &e.unit,
                    &e.model,
                    &e.value,
                    &e.ts,
                    &attributes,
                ];
                w.write(&row)?;
            }
        }
        w.finish()?;
        tx.commit()?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = std::env::var("RAMPART_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let Some(schema) = TestSchema::create() else {
        return Ok(());
    };
    let url = schema.url();
    let batches: Vec<Vec<Record>> = (0..events.div_ceil(BATCH)).map(batch).collect();
    let total = batches.len() * BATCH;
    println!("rampart-store PostgreSQL bench: {total} events in batches of {BATCH}");

    measure("COPY plain, one tx", total, || {
        copy_plain(&url, &batches, batches.len())
    })?;
    measure("COPY plain, tx per batch", total, || {
        copy_plain(&url, &batches, 1)
    })?;
    schema.execute("DROP TABLE plain")?;

    // Two writers sharing the log, each appending every other batch: two replicas' ingest.
    let (first, second): (Vec<_>, Vec<_>) = batches
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let stores = [
        Arc::new(PostgresStore::open_shared(&url)?),
        Arc::new(PostgresStore::open_shared(&url)?),
    ];
    measure("append, 2 writers, fresh", total, || {
        let writers: Vec<_> = [first, second]
            .into_iter()
            .zip(stores.iter().cloned())
            .map(|(mine, store)| {
                std::thread::spawn(move || -> Result<(), StoreError> {
                    for (_, b) in &mine {
                        let appended = store.append(b)?;
                        assert_eq!(appended.duplicates, 0, "the bench ids must be distinct");
                    }
                    Ok(())
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer does not panic")?;
        }
        Ok::<_, StoreError>(())
    })?;
    drop(stores);
    schema.execute(
        "TRUNCATE events, exposures, impressions, log_batches; \
         UPDATE log_head SET next_seq = 1, exposures = 0, events = 0",
    )?;

    let store = PostgresStore::open(&url)?;
    append_and_replay(&store, "append, 1 writer, fresh", &batches)?;
    assert_eq!(store.count_records()?, (0, total as u64));
    Ok(())
}
