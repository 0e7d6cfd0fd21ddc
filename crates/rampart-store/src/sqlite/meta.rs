//! Everything besides the log: entity records, config versions and the decision log.

use rampart_core::{Decision, EntityKind, EntityRecord, Millis};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::records::{column, json_column};
use crate::codec;
use crate::error::{Result, StoreError};
use crate::store::{Lease, Step};

const SELECT_ENTITY: &str = "SELECT kind, name, salt, state, updated_at FROM entities";

fn entity_from_row(row: &Row<'_>) -> Result<EntityRecord> {
    const T: &str = "entities";
    let name: String = column(row, 1, T, "name", &"?")?;
    let key = format!("{name:?}");
    let kind: String = column(row, 0, T, "kind", &key)?;
    let kind = codec::kind(&kind, T, &key)?;
    let salt: i64 = column(row, 2, T, "salt", &key)?;
    Ok(EntityRecord {
        kind,
        name,
        salt: salt as u64,
        state: json_column(row, 3, T, "state", &key)?,
        updated_at: column(row, 4, T, "updated_at", &key)?,
    })
}

pub(crate) fn load_entities(conn: &Connection) -> Result<Vec<EntityRecord>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT_ENTITY} ORDER BY kind, name"))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(entity_from_row(row)?);
    }
    Ok(out)
}

pub(crate) fn load_entity(
    conn: &Connection,
    kind: EntityKind,
    name: &str,
) -> Result<Option<EntityRecord>> {
    let mut stmt =
        conn.prepare_cached(&format!("{SELECT_ENTITY} WHERE kind = ?1 AND name = ?2"))?;
    let mut rows = stmt.query(params![kind.as_str(), name])?;
    match rows.next()? {
        Some(row) => entity_from_row(row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn save_entity(conn: &Connection, record: &EntityRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO entities (kind, name, salt, state, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (kind, name) DO UPDATE SET \
         salt = excluded.salt, state = excluded.state, updated_at = excluded.updated_at",
    )?
    .execute(params![
        record.kind.as_str(),
        record.name,
        record.salt as i64,
        record.state.to_string(),
        record.updated_at,
    ])?;
    Ok(())
}

pub(crate) fn rename_entity(
    conn: &mut Connection,
    kind: EntityKind,
    from: &str,
    to: &str,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists = |name: &str| -> Result<bool> {
        Ok(tx
            .query_row(
                "SELECT 1 FROM entities WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    };
    if !exists(from)? {
        return Err(StoreError::EntityNotFound {
            kind,
            name: from.to_owned(),
        });
    }
    if from == to {
        return Ok(());
    }
    if exists(to)? {
        return Err(StoreError::EntityExists {
            kind,
            name: to.to_owned(),
        });
    }
    tx.execute(
        "UPDATE entities SET name = ?3 WHERE kind = ?1 AND name = ?2",
        params![kind.as_str(), from, to],
    )?;
    tx.commit()?;
    Ok(())
}

pub(crate) fn save_config(conn: &mut Connection, text: &str, ts: Millis) -> Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let latest = latest_config(&tx)?;
    let version = match latest {
        Some((version, latest_text)) if latest_text == text => return Ok(version),
        Some((version, _)) => version + 1,
        None => 1,
    };
    tx.execute(
        "INSERT INTO config_versions (version, ts, text) VALUES (?1, ?2, ?3)",
        params![version, ts, text],
    )?;
    tx.commit()?;
    Ok(version)
}

pub(crate) fn latest_config(conn: &Connection) -> Result<Option<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT version, text FROM config_versions ORDER BY version DESC LIMIT 1",
    )?;
    let mut rows = stmt.query([])?;
    match rows.next()? {
        Some(row) => {
            let version: i64 = column(row, 0, "config_versions", "version", &"latest")?;
            let text: String = column(row, 1, "config_versions", "text", &version)?;
            Ok(Some((version, text)))
        }
        None => Ok(None),
    }
}

pub(crate) fn append_decision(conn: &Connection, d: &Decision) -> Result<i64> {
    let id = conn
        .prepare_cached(
            "INSERT INTO decisions \
             (ts, entity_kind, entity, action, from_state, to_state, reason, actor, evidence) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        )?
        .query_row(
            params![
                d.ts,
                d.entity_kind.as_str(),
                d.entity,
                d.action,
                d.from_state,
                d.to_state,
                d.reason,
                d.actor,
                d.evidence.to_string(),
            ],
            |r| r.get(0),
        )?;
    Ok(id)
}

pub(crate) const SELECT_DECISIONS: &str = "SELECT \
    id, ts, entity_kind, entity, action, from_state, to_state, reason, actor, evidence \
    FROM decisions";

pub(crate) fn decisions(
    conn: &Connection,
    entity: Option<&str>,
    limit: usize,
) -> Result<Vec<Decision>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    // Newest first with a limit, then reversed into log order.
    let mut stmt;
    let mut rows = match entity {
        Some(name) => {
            stmt = conn.prepare_cached(&format!(
                "{SELECT_DECISIONS} WHERE entity = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            stmt.query(params![name, limit])?
        }
        None => {
            stmt = conn.prepare_cached(&format!("{SELECT_DECISIONS} ORDER BY id DESC LIMIT ?1"))?;
            stmt.query(params![limit])?
        }
    };
    while let Some(row) = rows.next()? {
        out.push(decision_from_row(row)?);
    }
    out.reverse();
    Ok(out)
}

pub(crate) fn decision_from_row(row: &Row<'_>) -> Result<Decision> {
    const T: &str = "decisions";
    let id: i64 = column(row, 0, T, "id", &"?")?;
    let kind: String = column(row, 2, T, "entity_kind", &id)?;
    let entity_kind = codec::kind(&kind, T, &id)?;
    Ok(Decision {
        id,
        ts: column(row, 1, T, "ts", &id)?,
        entity_kind,
        entity: column(row, 3, T, "entity", &id)?,
        action: column(row, 4, T, "action", &id)?,
        from_state: column(row, 5, T, "from_state", &id)?,
        to_state: column(row, 6, T, "to_state", &id)?,
        reason: column(row, 7, T, "reason", &id)?,
        actor: column(row, 8, T, "actor", &id)?,
        evidence: json_column(row, 9, T, "evidence", &id)?,
    })
}

/// The database clock in Unix milliseconds, as SQL.
const NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

pub(crate) fn commit(conn: &mut Connection, step: &Step<'_>) -> Result<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(lease) = step.fence {
        let held = tx
            .query_row(
                &format!(
                    "SELECT 1 FROM leases WHERE name = ?1 AND holder = ?2 AND epoch = ?3 \
                     AND expires_at > {NOW_MS}"
                ),
                params![lease.name, lease.holder, lease.epoch],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !held {
            return Err(fenced(lease));
        }
    }
    let mut ids = Vec::with_capacity(step.decisions.len());
    for d in step.decisions {
        ids.push(append_decision(&tx, d)?);
    }
    for record in step.entities {
        save_entity(&tx, record)?;
    }
    tx.commit()?;
    Ok(ids)
}

pub(crate) fn fenced(lease: &Lease) -> StoreError {
    StoreError::Fenced {
        lease: lease.name.clone(),
        holder: lease.holder.clone(),
        epoch: lease.epoch,
    }
}

pub(crate) fn acquire_lease(
    conn: &Connection,
    name: &str,
    holder: &str,
    ttl: std::time::Duration,
) -> Result<Option<Lease>> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    // A renewal inside the holding keeps the epoch; any new holding takes the next one.
    let epoch: Option<i64> = conn
        .query_row(
            &format!(
                "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?1, ?2, 1, {NOW_MS} + ?3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > {NOW_MS} \
                     THEN leases.epoch ELSE leases.epoch + 1 END, \
                 expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= {NOW_MS} \
                 RETURNING epoch"
            ),
            params![name, holder, ttl_ms],
            |r| r.get(0),
        )
        .optional()?;
    Ok(epoch.map(|epoch| Lease {
        name: name.to_owned(),
        holder: holder.to_owned(),
        epoch,
    }))
}

pub(crate) fn release_lease(conn: &Connection, lease: &Lease) -> Result<()> {
    conn.execute(
        &format!(
            "UPDATE leases SET expires_at = {NOW_MS} \
             WHERE name = ?1 AND holder = ?2 AND epoch = ?3"
        ),
        params![lease.name, lease.holder, lease.epoch],
    )?;
    Ok(())
}
