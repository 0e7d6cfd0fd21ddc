//! The schema as an ordered list of migrations, and the code that applies the missing ones.
//!
//! Each migration is plain SQL meant to run unchanged on PostgreSQL, with one mapping: a key
//! declared `INTEGER PRIMARY KEY` is SQLite's row id (64-bit, and the table stays append-only
//! with no separate index); on PostgreSQL it is `BIGINT PRIMARY KEY` (with `GENERATED ALWAYS AS
//! IDENTITY` for `decisions.id`). `DOUBLE PRECISION`, `BIGINT` and `TEXT` mean the same on both.
//! JSON is stored as text. Unsigned 64-bit numbers (salts, assignment ids) are stored as the
//! `BIGINT` with the same bits.

use rusqlite::{params, Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// Migrations in the order they apply; migration `i` brings the schema to version `i + 1`.
/// Append only: a released migration is never edited.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the log, entities, config versions, decision log.
    "CREATE TABLE config_versions (
        version INTEGER PRIMARY KEY,
        ts BIGINT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE TABLE entities (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        salt BIGINT NOT NULL,
        state TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (kind, name)
    );
    CREATE TABLE exposures (
        seq INTEGER PRIMARY KEY,
        ts BIGINT NOT NULL,
        model TEXT NOT NULL,
        unit TEXT NOT NULL,
        variant TEXT NOT NULL,
        reason TEXT NOT NULL,
        entity_kind TEXT,
        entity_name TEXT,
        assignment_id BIGINT NOT NULL,
        segments TEXT NOT NULL
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        unit TEXT NOT NULL,
        model TEXT NOT NULL,
        value DOUBLE PRECISION,
        ts BIGINT NOT NULL,
        attributes TEXT NOT NULL
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        ts BIGINT NOT NULL,
        entity_kind TEXT NOT NULL,
        entity TEXT NOT NULL,
        action TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        evidence TEXT NOT NULL
    );
    CREATE INDEX decisions_by_entity ON decisions (entity, id);",
    // 2: interleaved impressions, numbered by the same seq as exposures and events. The
    // impression (method, rankings, items with teams) and the variant of each ranking are JSON.
    "CREATE TABLE impressions (
        seq INTEGER PRIMARY KEY,
        ts BIGINT NOT NULL,
        model TEXT NOT NULL,
        experiment TEXT NOT NULL,
        unit TEXT NOT NULL,
        impression_id TEXT NOT NULL,
        impression TEXT NOT NULL,
        variants TEXT NOT NULL
    );",
    // 3: leases (who decides, and in which epoch); `expires_at` in Unix milliseconds.
    "CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );",
];

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Applies the migrations the database has not seen yet, each in its own transaction together
/// with its row in `schema_migrations`. Returns the versions applied.
pub(crate) fn migrate(conn: &mut Connection) -> Result<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)",
    )?;
    let mut applied = Vec::new();
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        // Immediate: two processes racing on a fresh file must not both apply a migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        if current > latest_version() {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known: latest_version(),
            });
        }
        if version <= current {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES (?1)",
            params![version],
        )?;
        tx.commit()?;
        applied.push(version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), vec![1, 2, 3]);
        assert_eq!(migrate(&mut conn).unwrap(), Vec::<i64>::new());
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN \
                 ('config_versions', 'entities', 'exposures', 'events', 'decisions', 'impressions')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 6);
    }

    #[test]
    fn a_version_one_database_gains_the_impressions_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY);
             INSERT INTO schema_migrations (version) VALUES (1);",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), vec![2, 3]);
        let version: i64 = conn
            .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(version, 3);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute("INSERT INTO schema_migrations (version) VALUES (99)", [])
            .unwrap();
        match migrate(&mut conn) {
            Err(StoreError::SchemaTooNew { found, known }) => {
                assert_eq!(found, 99);
                assert_eq!(known, latest_version());
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}
