//! The ordered log: appending exposures, outcome events and interleaved impressions under one
//! sequence, and replaying the three tables merged by sequence number.

use rampart_core::{Exposure, ImpressionRecord, OutcomeEvent, Record};
use rusqlite::types::FromSql;
use rusqlite::{params, Connection, Row, Rows, TransactionBehavior};

use crate::codec;
use crate::dedup::{id_hash, IdSet};
use crate::error::{Result, StoreError};
use crate::store::Appended;

const INSERT_EXPOSURE: &str = "INSERT INTO exposures \
    (seq, ts, model, unit, variant, reason, entity_kind, entity_name, assignment_id, segments) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const INSERT_EVENT: &str = "INSERT INTO events \
    (seq, id, kind, unit, model, value, ts, attributes) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const INSERT_IMPRESSION: &str = "INSERT INTO impressions \
    (seq, ts, model, experiment, unit, impression_id, impression, variants) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const SELECT_EXPOSURES: &str = "SELECT \
    seq, ts, model, unit, variant, reason, entity_kind, entity_name, assignment_id, segments \
    FROM exposures WHERE seq >= ?1 ORDER BY seq";
const SELECT_EVENTS: &str = "SELECT seq, id, kind, unit, model, value, ts, attributes \
    FROM events WHERE seq >= ?1 ORDER BY seq";
const SELECT_IMPRESSIONS: &str = "SELECT \
    seq, ts, model, experiment, unit, impression_id, impression, variants \
    FROM impressions WHERE seq >= ?1 ORDER BY seq";

/// The writer's view of the log: the connection, the next sequence number, the hashes of every
/// stored event id and the row counts. Only [`append`] changes it, and only after a commit.
pub(crate) struct Log {
    pub(crate) conn: Connection,
    pub(crate) next_seq: i64,
    pub(crate) seen: IdSet,
    pub(crate) exposures: u64,
    pub(crate) events: u64,
}

impl Log {
    /// Reads what the writer needs to know about the stored log: the largest sequence number
    /// and every event id (hashed again here; storing the hash would cost 16 bytes per row for
    /// a scan that hashing does not slow down measurably).
    pub(crate) fn load(conn: Connection) -> Result<Log> {
        let max_seq: i64 = conn.query_row(
            "SELECT MAX(s) FROM (SELECT COALESCE(MAX(seq), 0) AS s FROM exposures \
             UNION ALL SELECT COALESCE(MAX(seq), 0) FROM events \
             UNION ALL SELECT COALESCE(MAX(seq), 0) FROM impressions) AS m",
            [],
            |r| r.get(0),
        )?;
        let exposures: i64 = conn.query_row("SELECT COUNT(*) FROM exposures", [], |r| r.get(0))?;
        // Counting first costs a quick pass over the table but spares the set its regrowths, and
        // the peak memory of copying itself into a larger table.
        let stored_events: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        let mut seen = IdSet::default();
        seen.reserve(usize::try_from(stored_events).unwrap_or_default());
        let mut events = 0u64;
        {
            let mut stmt = conn.prepare("SELECT seq, id FROM events")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let id = row.get_ref(1)?.as_str().map_err(|_| {
                    StoreError::Corrupt(format!(
                        "events row seq {} has an id that is not text",
                        row.get::<_, i64>(0).unwrap_or_default()
                    ))
                })?;
                seen.insert(id_hash(id));
                events += 1;
            }
        }
        Ok(Log {
            conn,
            next_seq: max_seq + 1,
            seen,
            exposures: u64::try_from(exposures).unwrap_or_default(),
            events,
        })
    }

    /// Appends `records` in one transaction; see [`crate::Store::append`].
    pub(crate) fn append(&mut self, records: &[Record]) -> Result<Appended> {
        let first_seq = self.next_seq;
        let mut seq = first_seq;
        let mut fresh = Vec::with_capacity(records.len());
        let mut duplicates = 0;
        let mut new_ids = IdSet::with_capacity_and_hasher(records.len(), Default::default());
        let mut exposures = 0u64;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert_exposure = tx.prepare_cached(INSERT_EXPOSURE)?;
            let mut insert_event = tx.prepare_cached(INSERT_EVENT)?;
            let mut insert_impression = tx.prepare_cached(INSERT_IMPRESSION)?;
            for (index, record) in records.iter().enumerate() {
                match record {
                    Record::Exposure(x) => {
                        let (entity_kind, entity_name) = codec::entity_columns(&x.entity);
                        insert_exposure.execute(params![
                            seq,
                            x.ts,
                            x.model,
                            x.unit,
                            x.variant,
                            x.reason.as_str(),
                            entity_kind,
                            entity_name,
                            x.assignment_id as i64,
                            codec::attributes_json(&x.segments, index)?,
                        ])?;
                        exposures += 1;
                    }
                    Record::Event(e) => {
                        let hash = id_hash(&e.id);
                        if self.seen.contains(&hash) || !new_ids.insert(hash) {
                            fresh.push(false);
                            duplicates += 1;
                            continue;
                        }
                        codec::check_value(&e.id, e.value, index)?;
                        insert_event.execute(params![
                            seq,
                            e.id,
                            e.kind,
                            e.unit,
                            e.model,
                            e.value,
                            e.ts,
                            codec::attributes_json(&e.attributes, index)?,
                        ])?;
                    }
                    Record::Impression(m) => {
                        insert_impression.execute(params![
                            seq,
                            m.ts,
                            m.model,
                            m.experiment,
                            m.unit,
                            m.impression_id,
                            codec::to_json(&m.impression, index, "impression")?,
                            codec::to_json(&m.variants, index, "variants")?,
                        ])?;
                    }
                }
                fresh.push(true);
                seq += 1;
            }
        }
        tx.commit()?;
        // Only now is the append durable, so only now does it count.
        self.next_seq = seq;
        self.events += new_ids.len() as u64;
        self.exposures += exposures;
        self.seen.extend(new_ids);
        Ok(Appended {
            first_seq,
            fresh,
            duplicates,
        })
    }
}

/// Calls `f` with every record of seq >= `from_seq`, the three tables merged by seq, from one
/// read snapshot. Rows are streamed from three ordered cursors; nothing is collected.
pub(crate) fn replay(
    conn: &mut Connection,
    from_seq: i64,
    f: &mut dyn FnMut(i64, Record),
) -> Result<()> {
    const TABLES: [&str; 3] = ["exposures", "events", "impressions"];
    let decoders: [Decode; 3] = [exposure_from_row, event_from_row, impression_from_row];
    // One transaction so the cursors read the same snapshot while appends go on.
    let tx = conn.transaction()?;
    {
        let mut exposures_stmt = tx.prepare_cached(SELECT_EXPOSURES)?;
        let mut events_stmt = tx.prepare_cached(SELECT_EVENTS)?;
        let mut impressions_stmt = tx.prepare_cached(SELECT_IMPRESSIONS)?;
        let mut cursors = [
            exposures_stmt.query(params![from_seq])?,
            events_stmt.query(params![from_seq])?,
            impressions_stmt.query(params![from_seq])?,
        ];
        let mut heads: [Option<(i64, Record)>; 3] = [None, None, None];
        for (k, head) in heads.iter_mut().enumerate() {
            *head = read_next(&mut cursors[k], decoders[k])?;
        }
        loop {
            let mut pick: Option<(usize, i64)> = None;
            for (k, head) in heads.iter().enumerate() {
                let Some((seq, _)) = head else { continue };
                match pick {
                    Some((other, best)) if best == *seq => {
                        return Err(StoreError::Corrupt(format!(
                            "seq {seq} is used by both the {} and the {} table",
                            TABLES[other], TABLES[k]
                        )));
                    }
                    Some((_, best)) if best < *seq => {}
                    _ => pick = Some((k, *seq)),
                }
            }
            let Some((k, _)) = pick else { break };
            if let Some((seq, record)) = heads[k].take() {
                f(seq, record);
            }
            heads[k] = read_next(&mut cursors[k], decoders[k])?;
        }
    }
    tx.commit()?;
    Ok(())
}

type Decode = fn(&Row<'_>) -> Result<(i64, Record)>;

fn read_next(rows: &mut Rows<'_>, decode: Decode) -> Result<Option<(i64, Record)>> {
    match rows.next()? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

/// Reads column `index` (named `name`) of a row of `table`; a value of the wrong type is
/// corruption, not a database failure.
pub(crate) fn column<T: FromSql>(
    row: &Row<'_>,
    index: usize,
    table: &str,
    name: &str,
    key: &dyn std::fmt::Display,
) -> Result<T> {
    row.get(index).map_err(|e| {
        StoreError::Corrupt(format!(
            "{table} row {key}: column {name} cannot be read: {e}"
        ))
    })
}

pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
    table: &str,
    name: &str,
    key: &dyn std::fmt::Display,
) -> Result<T> {
    let text: String = column(row, index, table, name, key)?;
    codec::from_json(&text, table, name, key)
}

fn exposure_from_row(row: &Row<'_>) -> Result<(i64, Record)> {
    exposure_row(row).map(|(seq, x)| (seq, Record::Exposure(x)))
}

fn event_from_row(row: &Row<'_>) -> Result<(i64, Record)> {
    event_row(row).map(|(seq, e)| (seq, Record::Event(e)))
}

fn impression_from_row(row: &Row<'_>) -> Result<(i64, Record)> {
    impression_row(row).map(|(seq, m)| (seq, Record::Impression(m)))
}

/// Decodes a row selected with the columns of `SELECT_EXPOSURES`.
pub(crate) fn exposure_row(row: &Row<'_>) -> Result<(i64, Exposure)> {
    const T: &str = "exposures";
    let seq: i64 = column(row, 0, T, "seq", &"?")?;
    let reason: String = column(row, 5, T, "reason", &seq)?;
    let reason = codec::reason(&reason, T, &seq)?;
    let entity_kind: Option<String> = column(row, 6, T, "entity_kind", &seq)?;
    let entity_name: Option<String> = column(row, 7, T, "entity_name", &seq)?;
    let entity = codec::entity(entity_kind, entity_name, T, &seq)?;
    let assignment_id: i64 = column(row, 8, T, "assignment_id", &seq)?;
    let exposure = Exposure {
        ts: column(row, 1, T, "ts", &seq)?,
        model: column(row, 2, T, "model", &seq)?,
        unit: column(row, 3, T, "unit", &seq)?,
        variant: column(row, 4, T, "variant", &seq)?,
        reason,
        entity,
        assignment_id: assignment_id as u64,
        segments: json_column(row, 9, T, "segments", &seq)?,
    };
    Ok((seq, exposure))
}

/// Decodes a row selected with the columns of `SELECT_EVENTS`.
pub(crate) fn event_row(row: &Row<'_>) -> Result<(i64, OutcomeEvent)> {
    const T: &str = "events";
    let seq: i64 = column(row, 0, T, "seq", &"?")?;
    let event = OutcomeEvent {
        id: column(row, 1, T, "id", &seq)?,
        kind: column(row, 2, T, "kind", &seq)?,
        unit: column(row, 3, T, "unit", &seq)?,
        model: column(row, 4, T, "model", &seq)?,
        value: column(row, 5, T, "value", &seq)?,
        ts: column(row, 6, T, "ts", &seq)?,
        attributes: json_column(row, 7, T, "attributes", &seq)?,
    };
    Ok((seq, event))
}

/// Decodes a row selected with the columns of `SELECT_IMPRESSIONS`.
pub(crate) fn impression_row(row: &Row<'_>) -> Result<(i64, ImpressionRecord)> {
    const T: &str = "impressions";
    let seq: i64 = column(row, 0, T, "seq", &"?")?;
    let impression = ImpressionRecord {
        ts: column(row, 1, T, "ts", &seq)?,
        model: column(row, 2, T, "model", &seq)?,
        experiment: column(row, 3, T, "experiment", &seq)?,
        unit: column(row, 4, T, "unit", &seq)?,
        impression_id: column(row, 5, T, "impression_id", &seq)?,
        impression: json_column(row, 6, T, "impression", &seq)?,
        variants: json_column(row, 7, T, "variants", &seq)?,
    };
    Ok((seq, impression))
}
