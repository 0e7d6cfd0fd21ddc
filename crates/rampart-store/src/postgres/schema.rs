//! The PostgreSQL schema as an ordered list of migrations, applied under an advisory lock so
//! replicas that start together migrate once.
//!
//! # The log
//! Every append is one *batch*: a row of `log_batches` and its records in `exposures`, `events`
//! and `impressions`, each keyed by `(batch, idx)` (`idx` is the record's index in the call).
//! A batch's sequence numbers are taken from the one-row `log_head` as the transaction's last
//! statement before commit: that row lock serializes the numbering, so batches are numbered in
//! commit order with no gaps, and a reader that takes every batch above the last number it saw
//! can never skip one that commits late (an identity or `SERIAL` column is handed out at insert
//! time and commits out of order). The lock is held only from that update to the commit.
//!
//! # Idempotent ingest
//! `events.id_hash` (the 128-bit xxh3 of the event id) is UNIQUE: a retried batch that reaches
//! any writer inserts nothing twice, and two writers racing on the same id wait for each other
//! on the index entry rather than both inserting. A fresh batch is copied straight into the
//! table; one with a stored id goes through a staging table and `ON CONFLICT DO NOTHING`. The hash is 16 bytes whatever the id's length,
//! which keeps the index small and its inserts cheap (see docs/architecture.md).
//!
//! Record tables carry a BRIN index on `batch`: batch numbers grow with time, so a block-range
//! summary finds a range of batches for a fraction of a B-tree's cost on every insert.

use postgres::Client;

use crate::error::{Result, StoreError};

/// Migrations in the order they apply; migration `i` brings the schema to version `i + 1`.
/// Append only: a released migration is never edited.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the log, entities, config versions, decision log.
    "CREATE TABLE config_versions (
        version BIGINT PRIMARY KEY,
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
    CREATE TABLE log_head (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        next_seq BIGINT NOT NULL,
        exposures BIGINT NOT NULL,
        events BIGINT NOT NULL
    );
    INSERT INTO log_head (next_seq, exposures, events) VALUES (1, 0, 0);
    CREATE SEQUENCE log_batch_ids;
    CREATE TABLE log_batches (
        batch BIGINT PRIMARY KEY,
        first_seq BIGINT NOT NULL UNIQUE,
        records INTEGER NOT NULL,
        written_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE exposures (
        batch BIGINT NOT NULL,
        idx INTEGER NOT NULL,
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
    CREATE INDEX exposures_by_batch ON exposures USING brin (batch);
    CREATE TABLE events (
        batch BIGINT NOT NULL,
        idx INTEGER NOT NULL,
        id_hash BYTEA NOT NULL UNIQUE,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        unit TEXT NOT NULL,
        model TEXT NOT NULL,
        value DOUBLE PRECISION,
        ts BIGINT NOT NULL,
        attributes TEXT NOT NULL
    );
    CREATE INDEX events_by_batch ON events USING brin (batch);
    CREATE TABLE impressions (
        batch BIGINT NOT NULL,
        idx INTEGER NOT NULL,
        ts BIGINT NOT NULL,
        model TEXT NOT NULL,
        experiment TEXT NOT NULL,
        unit TEXT NOT NULL,
        impression_id TEXT NOT NULL,
        impression TEXT NOT NULL,
        variants TEXT NOT NULL
    );
    CREATE INDEX impressions_by_batch ON impressions USING brin (batch);
    CREATE TABLE decisions (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    // 2: leases (who decides, and in which epoch), timed by the database's clock.
    "CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );",
];

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The advisory lock key of everything rampart stores in the connection's current schema, so
/// several deployments can share one database in separate schemas. `salt` tells the migration
/// lock from the writer's lock.
pub(crate) const LOCK_KEY: &str = "hashtextextended('rampart:' || current_schema(), $1)";

/// Applies the migrations the schema has not seen yet, each in its own transaction together
/// with its row in `schema_migrations`, holding the schema's migration lock throughout so
/// replicas starting together migrate once. Returns the versions applied.
pub(crate) fn migrate(client: &mut Client) -> Result<Vec<i64>> {
    client.execute(&format!("SELECT pg_advisory_lock({LOCK_KEY})"), &[&1i64])?;
    let result = apply(client);
    let unlocked = client.execute(&format!("SELECT pg_advisory_unlock({LOCK_KEY})"), &[&1i64]);
    let applied = result?;
    unlocked?;
    Ok(applied)
}

fn apply(client: &mut Client) -> Result<Vec<i64>> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)",
    )?;
    let current: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    if current > latest_version() {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: latest_version(),
        });
    }
    let mut applied = Vec::new();
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let mut tx = client.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )?;
        tx.commit()?;
        applied.push(version);
    }
    Ok(applied)
}

/// Checks, without changing anything, that the schema holds rampart's tables at the version
/// this build reads.
pub(crate) fn check(client: &mut Client, location: &str) -> Result<()> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
        .get(0);
    let found: Option<i64> = match exists {
        true => Some(
            client
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                    &[],
                )?
                .get(0),
        ),
        false => None,
    };
    let known = latest_version();
    match found {
        None => Err(StoreError::Missing {
            path: location.to_owned(),
            db_file: "the table schema_migrations".to_owned(),
        }),
        Some(v) if v > known => Err(StoreError::SchemaTooNew { found: v, known }),
        Some(v) if v < known => Err(StoreError::SchemaTooOld { found: v, known }),
        Some(_) => Ok(()),
    }
}
