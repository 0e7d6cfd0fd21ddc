//! Everything besides the log on PostgreSQL: entity records, config versions and the decision
//! log.

use postgres::{Client, GenericClient, Row};
use rampart_core::{Decision, EntityKind, EntityRecord, Millis};

use crate::codec;
use crate::error::{Result, StoreError};
use crate::store::{Lease, Step};

const SELECT_ENTITY: &str = "SELECT kind, name, salt, state, updated_at FROM entities";

fn text<'a>(
    row: &'a Row,
    index: usize,
    table: &str,
    key: &dyn std::fmt::Display,
) -> Result<&'a str> {
    row.try_get(index).map_err(|e| {
        StoreError::Corrupt(format!(
            "{table} row {key}: column {} cannot be read: {e}",
            row.columns()[index].name()
        ))
    })
}

fn entity_from_row(row: &Row) -> Result<EntityRecord> {
    const T: &str = "entities";
    let name: String = row.get(1);
    let key = format!("{name:?}");
    let salt: i64 = row.get(2);
    Ok(EntityRecord {
        kind: codec::kind(text(row, 0, T, &key)?, T, &key)?,
        salt: salt as u64,
        state: codec::from_json(text(row, 3, T, &key)?, T, "state", &key)?,
        updated_at: row.get(4),
        name,
    })
}

pub(crate) fn load_entities(client: &mut Client) -> Result<Vec<EntityRecord>> {
    client
        .query(&format!("{SELECT_ENTITY} ORDER BY kind, name"), &[])?
        .iter()
        .map(entity_from_row)
        .collect()
}

pub(crate) fn load_entity(
    client: &mut Client,
    kind: EntityKind,
    name: &str,
) -> Result<Option<EntityRecord>> {
    client
        .query_opt(
            &format!("{SELECT_ENTITY} WHERE kind = $1 AND name = $2"),
            &[&kind.as_str(), &name],
        )?
        .as_ref()
        .map(entity_from_row)
        .transpose()
}

pub(crate) fn save_entity(client: &mut impl GenericClient, record: &EntityRecord) -> Result<()> {
    client.execute(
        "INSERT INTO entities (kind, name, salt, state, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (kind, name) DO UPDATE SET \
         salt = excluded.salt, state = excluded.state, updated_at = excluded.updated_at",
        &[
            &record.kind.as_str(),
            &record.name,
            &(record.salt as i64),
            &record.state.to_string(),
            &record.updated_at,
        ],
    )?;
    Ok(())
}

pub(crate) fn rename_entity(
    client: &mut Client,
    kind: EntityKind,
    from: &str,
    to: &str,
) -> Result<()> {
    let mut tx = client.transaction()?;
    let found = tx
        .query_opt(
            "SELECT 1 FROM entities WHERE kind = $1 AND name = $2 FOR UPDATE",
            &[&kind.as_str(), &from],
        )?
        .is_some();
    if !found {
        return Err(StoreError::EntityNotFound {
            kind,
            name: from.to_owned(),
        });
    }
    if from == to {
        return Ok(());
    }
    let moved = tx.execute(
        "UPDATE entities SET name = $3 WHERE kind = $1 AND name = $2 \
         AND NOT EXISTS (SELECT 1 FROM entities WHERE kind = $1 AND name = $3)",
        &[&kind.as_str(), &from, &to],
    );
    match moved {
        Ok(1) => {}
        // Taken by a row that committed first, or already stored.
        Ok(_) => {
            return Err(StoreError::EntityExists {
                kind,
                name: to.to_owned(),
            })
        }
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
            return Err(StoreError::EntityExists {
                kind,
                name: to.to_owned(),
            })
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit()?;
    Ok(())
}

pub(crate) fn save_config(client: &mut Client, text: &str, ts: Millis) -> Result<i64> {
    let mut tx = client.transaction()?;
    // Serializes writers of config versions, so two cannot take the same number.
    tx.batch_execute("LOCK TABLE config_versions IN SHARE ROW EXCLUSIVE MODE")?;
    let latest = tx.query_opt(
        "SELECT version, text FROM config_versions ORDER BY version DESC LIMIT 1",
        &[],
    )?;
    let version = match latest {
        Some(row) if row.get::<_, &str>(1) == text => return Ok(row.get(0)),
        Some(row) => row.get::<_, i64>(0) + 1,
        None => 1,
    };
    tx.execute(
        "INSERT INTO config_versions (version, ts, text) VALUES ($1, $2, $3)",
        &[&version, &ts, &text],
    )?;
    tx.commit()?;
    Ok(version)
}

pub(crate) fn latest_config(client: &mut Client) -> Result<Option<(i64, String)>> {
    Ok(client
        .query_opt(
            "SELECT version, text FROM config_versions ORDER BY version DESC LIMIT 1",
            &[],
        )?
        .map(|row| (row.get(0), row.get(1))))
}

pub(crate) fn append_decision(client: &mut impl GenericClient, d: &Decision) -> Result<i64> {
    Ok(client
        .query_one(
            "INSERT INTO decisions \
             (ts, entity_kind, entity, action, from_state, to_state, reason, actor, evidence) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &d.ts,
                &d.entity_kind.as_str(),
                &d.entity,
                &d.action,
                &d.from_state,
                &d.to_state,
                &d.reason,
                &d.actor,
                &d.evidence.to_string(),
            ],
        )?
        .get(0))
}

const SELECT_DECISIONS: &str = "SELECT \
    id, ts, entity_kind, entity, action, from_state, to_state, reason, actor, evidence \
    FROM decisions";

pub(crate) fn decisions(
    client: &mut Client,
    entity: Option<&str>,
    limit: usize,
) -> Result<Vec<Decision>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Newest first with a limit, then reversed into log order.
    let rows = match entity {
        Some(name) => client.query(
            &format!("{SELECT_DECISIONS} WHERE entity = $1 ORDER BY id DESC LIMIT $2"),
            &[&name, &limit],
        )?,
        None => client.query(
            &format!("{SELECT_DECISIONS} ORDER BY id DESC LIMIT $1"),
            &[&limit],
        )?,
    };
    let mut out = rows
        .iter()
        .map(decision_from_row)
        .collect::<Result<Vec<_>>>()?;
    out.reverse();
    Ok(out)
}

fn decision_from_row(row: &Row) -> Result<Decision> {
    const T: &str = "decisions";
    let id: i64 = row.get(0);
    Ok(Decision {
        id,
        ts: row.get(1),
        entity_kind: codec::kind(text(row, 2, T, &id)?, T, &id)?,
        entity: row.get(3),
        action: row.get(4),
        from_state: row.get(5),
        to_state: row.get(6),
        reason: row.get(7),
        actor: row.get(8),
        evidence: codec::from_json(text(row, 9, T, &id)?, T, "evidence", &id)?,
    })
}

pub(crate) fn commit(client: &mut Client, step: &Step<'_>) -> Result<Vec<i64>> {
    let mut tx = client.transaction()?;
    if let Some(lease) = step.fence {
        // FOR SHARE: a takeover (which updates the row) waits until this step has committed,
        // so no step of an old epoch commits after a new holder has started.
        let held = tx
            .query_opt(
                "SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 \
                 AND expires_at > clock_timestamp() FOR SHARE",
                &[&lease.name, &lease.holder, &lease.epoch],
            )?
            .is_some();
        if !held {
            return Err(crate::sqlite::fenced(lease));
        }
    }
    let mut ids = Vec::with_capacity(step.decisions.len());
    for d in step.decisions {
        ids.push(append_decision(&mut tx, d)?);
    }
    for record in step.entities {
        save_entity(&mut tx, record)?;
    }
    tx.commit()?;
    Ok(ids)
}

pub(crate) fn acquire_lease(
    client: &mut Client,
    name: &str,
    holder: &str,
    ttl: std::time::Duration,
) -> Result<Option<Lease>> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    // A renewal inside the holding keeps the epoch; any new holding takes the next one.
    let epoch = client
        .query_opt(
            "INSERT INTO leases (name, holder, epoch, expires_at) \
             VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond') \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             epoch = CASE WHEN leases.holder = excluded.holder \
                 AND leases.expires_at > clock_timestamp() \
                 THEN leases.epoch ELSE leases.epoch + 1 END, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp() \
             RETURNING epoch",
            &[&name, &holder, &(ttl_ms as f64)],
        )?
        .map(|row| row.get::<_, i64>(0));
    Ok(epoch.map(|epoch| Lease {
        name: name.to_owned(),
        holder: holder.to_owned(),
        epoch,
    }))
}

pub(crate) fn release_lease(client: &mut Client, lease: &Lease) -> Result<()> {
    client.execute(
        "UPDATE leases SET expires_at = clock_timestamp() \
         WHERE name = $1 AND holder = $2 AND epoch = $3",
        &[&lease.name, &lease.holder, &lease.epoch],
    )?;
    Ok(())
}
