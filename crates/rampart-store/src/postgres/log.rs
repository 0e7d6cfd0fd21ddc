//! The ordered log on PostgreSQL: appending a batch in one transaction and replaying batches in
//! the order of their sequence numbers (see [`super::schema`] for why that is commit order).

use std::collections::HashMap;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, Row};
use rampart_core::{Exposure, ImpressionRecord, OutcomeEvent, Record};

use crate::codec;
use crate::dedup::{id_hash, IdSet};
use crate::error::{Result, StoreError};
use crate::store::Appended;

/// Records one append may hold: `idx` is a 32-bit column.
const MAX_BATCH: usize = i32::MAX as usize;
/// Sequence numbers a replay reads per round trip; bounds its memory.
const REPLAY_CHUNK: i64 = 50_000;

const EXPOSURE_COLUMNS: &str = "batch, idx, ts, model, unit, variant, reason, entity_kind, \
    entity_name, assignment_id, segments";
const EVENT_COLUMNS: &str = "batch, idx, id_hash, id, kind, unit, model, value, ts, attributes";
const IMPRESSION_COLUMNS: &str =
    "batch, idx, ts, model, experiment, unit, impression_id, impression, variants";

/// Appends `records` in one transaction; see [`crate::Store::append`].
pub(crate) fn append(client: &mut Client, records: &[Record]) -> Result<Appended> {
    if records.len() > MAX_BATCH {
        return Err(StoreError::InvalidRecord {
            index: MAX_BATCH,
            reason: format!("one append holds at most {MAX_BATCH} records"),
        });
    }
    // Checked before anything is written, so a refused call costs no round trip.
    let mut in_call = IdSet::with_capacity_and_hasher(records.len(), Default::default());
    let mut events = Vec::new();
    let mut exposures = Vec::new();
    let mut impressions = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match record {
            Record::Exposure(x) => exposures.push((index, x)),
            Record::Impression(m) => impressions.push((index, m)),
            Record::Event(e) => {
                codec::check_value(&e.id, e.value, index)?;
                let hash = id_hash(&e.id);
                // The first occurrence in the call is the one that may be stored.
                if in_call.insert(hash) {
                    events.push((hash, index, e));
                }
            }
        }
    }

    let mut tx = client.transaction()?;
    let batch: i64 = tx.query_one("SELECT nextval('log_batch_ids')", &[])?.get(0);
    let mut fresh = vec![false; records.len()];
    if !events.is_empty() {
        // In hash order, so two writers inserting overlapping batches take the index entries in
        // the same order and wait for each other instead of deadlocking.
        events.sort_unstable_by_key(|(hash, _, _)| *hash);
        let attributes = events
            .iter()
            .map(|(_, index, e)| codec::attributes_json(&e.attributes, *index))
            .collect::<Result<Vec<_>>>()?;
        // Most batches hold only new ids: copied straight into the table they are all stored,
        // one pass. A batch with an id already stored (a retry) fails that copy on the unique
        // index, which is undone to the savepoint, and goes through the staging table instead.
        let mut direct = tx.savepoint("direct")?;
        match copy_events(&mut direct, "events", batch, &events, &attributes) {
            Ok(()) => {
                direct.commit()?;
                for (_, index, _) in &events {
                    fresh[*index] = true;
                }
            }
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
                direct.rollback()?;
                // A temporary table emptied at every commit; created once per session.
                tx.batch_execute(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS event_stage ON COMMIT DELETE ROWS AS \
                     SELECT {EVENT_COLUMNS} FROM events WITH NO DATA"
                ))?;
                copy_events(&mut tx, "event_stage", batch, &events, &attributes)?;
                for row in tx.query(
                    &format!(
                        "INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} \
                         FROM event_stage ORDER BY id_hash \
                         ON CONFLICT (id_hash) DO NOTHING RETURNING idx"
                    ),
                    &[],
                )? {
                    let idx: i32 = row.get(0);
                    fresh[idx as usize] = true;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !exposures.is_empty() {
        copy_exposures(&mut tx, batch, &exposures)?;
    }
    if !impressions.is_empty() {
        copy_impressions(&mut tx, batch, &impressions)?;
    }
    for (index, _) in &exposures {
        fresh[*index] = true;
    }
    for (index, _) in &impressions {
        fresh[*index] = true;
    }
    let stored = fresh.iter().filter(|f| **f).count() as i64;
    let stored_events = stored - exposures.len() as i64 - impressions.len() as i64;
    // Last statement before the commit: the row lock it takes orders this batch after every
    // batch that committed before and before every batch that waits on it.
    let first_seq: i64 = tx
        .query_one(
            "UPDATE log_head SET next_seq = next_seq + $1, exposures = exposures + $2, \
             events = events + $3 RETURNING next_seq - $1",
            &[&stored, &(exposures.len() as i64), &stored_events],
        )?
        .get(0);
    if stored > 0 {
        tx.execute(
            "INSERT INTO log_batches (batch, first_seq, records) VALUES ($1, $2, $3)",
            &[&batch, &first_seq, &(stored as i32)],
        )?;
    }
    tx.commit()?;
    Ok(Appended {
        first_seq,
        duplicates: records.len() - stored as usize,
        fresh,
    })
}

fn copy_in(
    tx: &mut postgres::Transaction<'_>,
    sql: &str,
    types: &[Type],
    mut rows: impl FnMut(&mut BinaryCopyInWriter<'_>) -> Result<()>,
) -> Result<()> {
    let sink = tx.copy_in(sql)?;
    let mut writer = BinaryCopyInWriter::new(sink, types);
    rows(&mut writer)?;
    writer.finish()?;
    Ok(())
}

/// Binary COPY of `events` (in the order given) into `table`, which has the events' columns.
fn copy_events(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    batch: i64,
    events: &[(u128, usize, &OutcomeEvent)],
    attributes: &[String],
) -> std::result::Result<(), postgres::Error> {
    let types = [
        Type::INT8,
        Type::INT4,
        Type::BYTEA,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::FLOAT8,
        Type::INT8,
        Type::TEXT,
    ];
    let sink = tx.copy_in(&format!("COPY {table} ({EVENT_COLUMNS}) FROM STDIN BINARY"))?;
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for ((hash, index, e), attributes) in events.iter().zip(attributes) {
        let hash = hash.to_be_bytes();
        let idx = *index as i32;
        let row: [&(dyn ToSql + Sync); 10] = [
            &batch,
            &idx,
            &&hash[..],
            &e.id,
            &e.kind,
            &e.unit,
            &e.model,
            &e.value,
            &e.ts,
            attributes,
        ];
        w.write(&row)?;
    }
    w.finish()?;
    Ok(())
}

fn copy_exposures(
    tx: &mut postgres::Transaction<'_>,
    batch: i64,
    exposures: &[(usize, &Exposure)],
) -> Result<()> {
    let types = [
        Type::INT8,
        Type::INT4,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
    ];
    copy_in(
        tx,
        &format!("COPY exposures ({EXPOSURE_COLUMNS}) FROM STDIN BINARY"),
        &types,
        |w| {
            for (index, x) in exposures {
                let (entity_kind, entity_name) = codec::entity_columns(&x.entity);
                let segments = codec::attributes_json(&x.segments, *index)?;
                let idx = *index as i32;
                let assignment_id = x.assignment_id as i64;
                let row: [&(dyn ToSql + Sync); 11] = [
                    &batch,
                    &idx,
                    &x.ts,
                    &x.model,
                    &x.unit,
                    &x.variant,
                    &x.reason.as_str(),
                    &entity_kind,
                    &entity_name,
                    &assignment_id,
                    &segments,
                ];
                w.write(&row)?;
            }
            Ok(())
        },
    )
}

fn copy_impressions(
    tx: &mut postgres::Transaction<'_>,
    batch: i64,
    impressions: &[(usize, &ImpressionRecord)],
) -> Result<()> {
    let types = [
        Type::INT8,
        Type::INT4,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    copy_in(
        tx,
        &format!("COPY impressions ({IMPRESSION_COLUMNS}) FROM STDIN BINARY"),
        &types,
        |w| {
            for (index, m) in impressions {
                let impression = codec::to_json(&m.impression, *index, "impression")?;
                let variants = codec::to_json(&m.variants, *index, "variants")?;
                let idx = *index as i32;
                let row: [&(dyn ToSql + Sync); 9] = [
                    &batch,
                    &idx,
                    &m.ts,
                    &m.model,
                    &m.experiment,
                    &m.unit,
                    &m.impression_id,
                    &impression,
                    &variants,
                ];
                w.write(&row)?;
            }
            Ok(())
        },
    )
}

/// Stored (exposures, events).
pub(crate) fn count_records(client: &mut Client) -> Result<(u64, u64)> {
    let row = client.query_one("SELECT exposures, events FROM log_head", &[])?;
    let exposures: i64 = row.get(0);
    let events: i64 = row.get(1);
    Ok((exposures as u64, events as u64))
}

/// Calls `f` with every record of seq >= `from_seq`, batch by batch in sequence order, from one
/// read snapshot, reading [`REPLAY_CHUNK`] sequence numbers per round trip.
pub(crate) fn replay(
    client: &mut Client,
    from_seq: i64,
    f: &mut dyn FnMut(i64, Record),
) -> Result<()> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    // The batch holding `from_seq`, or the first one after it.
    let start: Option<i64> = tx
        .query_opt(
            "SELECT first_seq FROM log_batches WHERE first_seq <= $1 \
             ORDER BY first_seq DESC LIMIT 1",
            &[&from_seq],
        )?
        .map(|r| r.get(0));
    let mut cursor = start.unwrap_or(from_seq);
    loop {
        let batches: Vec<(i64, i64, i32)> = tx
            .query(
                "SELECT batch, first_seq, records FROM log_batches \
                 WHERE first_seq >= $1 AND first_seq < $2 ORDER BY first_seq",
                &[&cursor, &cursor.saturating_add(REPLAY_CHUNK)],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let Some(last) = batches.last() else {
            // Past a gap in a range (there is none unless rows were deleted): look further.
            let next: Option<i64> = tx
                .query_one(
                    "SELECT MIN(first_seq) FROM log_batches WHERE first_seq >= $1",
                    &[&cursor],
                )?
                .get(0);
            match next {
                Some(n) => {
                    cursor = n;
                    continue;
                }
                None => break,
            }
        };
        cursor = last.1 + i64::from(last.2);
        let lo = batches.iter().map(|b| b.0).min().unwrap_or_default();
        let hi = batches.iter().map(|b| b.0).max().unwrap_or_default();
        let mut by_batch: HashMap<i64, Vec<(i32, Record)>> =
            batches.iter().map(|b| (b.0, Vec::new())).collect();
        read_rows(
            &mut tx,
            "exposures",
            EXPOSURE_COLUMNS,
            lo,
            hi,
            &mut by_batch,
            exposure_row,
        )?;
        read_rows(
            &mut tx,
            "events",
            EVENT_COLUMNS,
            lo,
            hi,
            &mut by_batch,
            event_row,
        )?;
        read_rows(
            &mut tx,
            "impressions",
            IMPRESSION_COLUMNS,
            lo,
            hi,
            &mut by_batch,
            impression_row,
        )?;
        for (batch, first_seq, records) in batches {
            let mut rows = by_batch.remove(&batch).unwrap_or_default();
            if rows.len() != records as usize {
                return Err(StoreError::Corrupt(format!(
                    "log batch {batch} (seq {first_seq}) should hold {records} records, holds {}",
                    rows.len()
                )));
            }
            rows.sort_unstable_by_key(|(idx, _)| *idx);
            if let Some(pair) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(StoreError::Corrupt(format!(
                    "log batch {batch}: index {} is used by two records",
                    pair[0].0
                )));
            }
            for (k, (_, record)) in rows.into_iter().enumerate() {
                let seq = first_seq + k as i64;
                if seq >= from_seq {
                    f(seq, record);
                }
            }
        }
    }
    tx.commit()?;
    Ok(())
}

type Decode = fn(&Row, i64) -> Result<Record>;

/// Reads the rows of `table` whose batch is in `lo..=hi` into `by_batch`, keeping only the
/// batches asked for (a range may also hold batches that commit later or not at all).
fn read_rows(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    columns: &str,
    lo: i64,
    hi: i64,
    by_batch: &mut HashMap<i64, Vec<(i32, Record)>>,
    decode: Decode,
) -> Result<()> {
    for row in tx.query(
        &format!("SELECT {columns} FROM {table} WHERE batch BETWEEN $1 AND $2"),
        &[&lo, &hi],
    )? {
        let batch: i64 = row.get(0);
        let Some(rows) = by_batch.get_mut(&batch) else {
            continue;
        };
        let idx: i32 = row.get(1);
        rows.push((idx, decode(&row, batch)?));
    }
    Ok(())
}

/// A row's column, a value of the wrong type or NULL being corruption.
fn column<'a, T: postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
    table: &str,
    key: &dyn std::fmt::Display,
) -> Result<T> {
    row.try_get(index).map_err(|e| {
        StoreError::Corrupt(format!(
            "{table} row {key}: column {} cannot be read: {e}",
            row.columns()[index].name()
        ))
    })
}

fn exposure_row(row: &Row, batch: i64) -> Result<Record> {
    const T: &str = "exposures";
    let idx: i32 = column(row, 1, T, &batch)?;
    let key = format!("{batch}/{idx}");
    let reason: &str = column(row, 6, T, &key)?;
    let segments: &str = column(row, 10, T, &key)?;
    let assignment_id: i64 = column(row, 9, T, &key)?;
    Ok(Record::Exposure(Exposure {
        ts: column(row, 2, T, &key)?,
        model: column(row, 3, T, &key)?,
        unit: column(row, 4, T, &key)?,
        variant: column(row, 5, T, &key)?,
        reason: codec::reason(reason, T, &key)?,
        entity: codec::entity(column(row, 7, T, &key)?, column(row, 8, T, &key)?, T, &key)?,
        assignment_id: assignment_id as u64,
        segments: codec::from_json(segments, T, "segments", &key)?,
    }))
}

fn event_row(row: &Row, batch: i64) -> Result<Record> {
    const T: &str = "events";
    let idx: i32 = column(row, 1, T, &batch)?;
    let key = format!("{batch}/{idx}");
    let attributes: &str = column(row, 9, T, &key)?;
    Ok(Record::Event(OutcomeEvent {
        id: column(row, 3, T, &key)?,
        kind: column(row, 4, T, &key)?,
        unit: column(row, 5, T, &key)?,
        model: column(row, 6, T, &key)?,
        value: column(row, 7, T, &key)?,
        ts: column(row, 8, T, &key)?,
        attributes: codec::from_json(attributes, T, "attributes", &key)?,
    }))
}

fn impression_row(row: &Row, batch: i64) -> Result<Record> {
    const T: &str = "impressions";
    let idx: i32 = column(row, 1, T, &batch)?;
    let key = format!("{batch}/{idx}");
    let impression: &str = column(row, 7, T, &key)?;
    let variants: &str = column(row, 8, T, &key)?;
    Ok(Record::Impression(ImpressionRecord {
        ts: column(row, 2, T, &key)?,
        model: column(row, 3, T, &key)?,
        experiment: column(row, 4, T, &key)?,
        unit: column(row, 5, T, &key)?,
        impression_id: column(row, 6, T, &key)?,
        impression: codec::from_json(impression, T, "impression", &key)?,
        variants: codec::from_json(variants, T, "variants", &key)?,
    }))
}
