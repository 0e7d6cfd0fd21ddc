//! `rampart export`: the log (exposures, outcome events, impressions) and the decision log of a
//! data directory as CSV or Parquet files, filtered by time, read through the store's lock-free
//! reader so the server can keep running.
//!
//! The four tables are declared once, as data ([`EXPOSURES`], [`EVENTS`], [`IMPRESSIONS`],
//! [`DECISIONS`]: column names and [`Kind`]s); each row is a slice of typed [`Cell`]s that a
//! [`TableWriter`] of the chosen format writes as it comes (nothing is collected beyond one
//! Parquet row group). Files are written as `NAME.EXT.partial` and renamed into place only when
//! all four are complete.

mod csv;
mod parquet_file;

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use rampart_core::Millis;
use rampart_core::{Decision, Exposure, ImpressionRecord, OutcomeEvent, Record};
use rampart_store::{PostgresStore, SqliteReader, Store, StoreError, StoreLocation, TimeRange};

use crate::exit::outln;
use crate::table;

#[derive(Args)]
pub struct ExportArgs {
    /// The data directory to read (default: the config's server.data_dir, else ./rampart-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Read the PostgreSQL store at this URL instead of a data directory (default: the
    /// config's [store]).
    #[arg(long, env = "RAMPART_STORE_URL", hide_env_values = true)]
    store_url: Option<String>,
    /// The config file, read only for server.data_dir and [store].
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Where to write the files (created if missing; files of the same name are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Only records with ts at or after this time (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    from: Option<String>,
    /// Only records with ts before this time (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    to: Option<String>,
    /// File format: csv (text, opens anywhere) or parquet (typed columns, compressed).
    #[arg(long, value_enum, default_value_t)]
    format: ExportFormat,
    /// Print the row counts as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    #[default]
    Csv,
    Parquet,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "--{flag} {value:?} is neither Unix milliseconds nor RFC 3339 (e.g. 2026-01-31T12:00:00Z)"
    )]
    Time { flag: &'static str, value: String },
    #[error("--from ({from} ms) must be before --to ({to} ms)")]
    EmptyRange { from: Millis, to: Millis },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Parquet {
        path: String,
        source: ::parquet::errors::ParquetError,
    },
    #[error("cannot write the {what} of row {key} as JSON: {source}")]
    Json {
        what: &'static str,
        key: i64,
        source: serde_json::Error,
    },
}

/// Rows written per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub exposures: u64,
    pub events: u64,
    pub impressions: u64,
    pub decisions: u64,
}

/// What a column holds; each format maps it to its own types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A signed 64-bit integer.
    Int,
    /// An unsigned 64-bit integer.
    UInt,
    /// Unix milliseconds, UTC.
    Time,
    Text,
    /// Text that may be missing.
    OptText,
    /// A number that may be missing.
    OptNum,
    /// JSON text.
    Json,
}

/// One value of a row; its kind must be its column's.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Int(i64),
    UInt(u64),
    Time(Millis),
    Text(&'a str),
    OptText(Option<&'a str>),
    OptNum(Option<f64>),
    Json(String),
}

impl Cell<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Cell::Int(_) => Kind::Int,
            Cell::UInt(_) => Kind::UInt,
            Cell::Time(_) => Kind::Time,
            Cell::Text(_) => Kind::Text,
            Cell::OptText(_) => Kind::OptText,
            Cell::OptNum(_) => Kind::OptNum,
            Cell::Json(_) => Kind::Json,
        }
    }
}

/// A table's name (the file's stem) and columns.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
}

pub const EXPOSURES: Table = Table {
    name: "exposures",
    columns: &[
        ("seq", Kind::Int),
        ("ts", Kind::Time),
        ("model", Kind::Text),
        ("unit", Kind::Text),
        ("variant", Kind::Text),
        ("reason", Kind::Text),
        ("entity_kind", Kind::OptText),
        ("entity", Kind::OptText),
        ("assignment_id", Kind::UInt),
        ("segments", Kind::Json),
    ],
};

pub const EVENTS: Table = Table {
    name: "events",
    columns: &[
        ("seq", Kind::Int),
        ("ts", Kind::Time),
        ("id", Kind::Text),
        ("type", Kind::Text),
        ("unit", Kind::Text),
        ("model", Kind::Text),
        ("value", Kind::OptNum),
        ("attributes", Kind::Json),
    ],
};

pub const IMPRESSIONS: Table = Table {
    name: "impressions",
    columns: &[
        ("seq", Kind::Int),
        ("ts", Kind::Time),
        ("model", Kind::Text),
        ("experiment", Kind::Text),
        ("unit", Kind::Text),
        ("impression_id", Kind::Text),
        ("variants", Kind::Json),
        ("impression", Kind::Json),
    ],
};

pub const DECISIONS: Table = Table {
    name: "decisions",
    columns: &[
        ("id", Kind::Int),
        ("ts", Kind::Time),
        ("entity_kind", Kind::Text),
        ("entity", Kind::Text),
        ("action", Kind::Text),
        ("from_state", Kind::Text),
        ("to_state", Kind::Text),
        ("reason", Kind::Text),
        ("actor", Kind::Text),
        ("evidence", Kind::Json),
    ],
};

const TABLES: [&Table; 4] = [&EXPOSURES, &EVENTS, &IMPRESSIONS, &DECISIONS];

/// One file being written row by row.
pub trait TableWriter {
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError>;
    /// Completes and syncs the file; returns the number of rows.
    fn finish(self: Box<Self>) -> Result<u64, ExportError>;
}

pub fn export(args: &ExportArgs) -> Result<(), String> {
    let counts = run(args).map_err(|e| e.to_string())?;
    if args.json {
        let body = serde_json::json!({
            "out": args.out.display().to_string(),
            "format": args.format.extension(),
            "exposures": counts.exposures,
            "events": counts.events,
            "impressions": counts.impressions,
            "decisions": counts.decisions,
        });
        outln!("{body}");
        return Ok(());
    }
    let ext = args.format.extension();
    table::print(
        &["FILE", "ROWS"],
        [
            (EXPOSURES.name, counts.exposures),
            (EVENTS.name, counts.events),
            (IMPRESSIONS.name, counts.impressions),
            (DECISIONS.name, counts.decisions),
        ]
        .into_iter()
        .map(|(name, n)| {
            let file = args.out.join(format!("{name}.{ext}"));
            vec![file.display().to_string(), n.to_string()]
        }),
    );
    Ok(())
}

fn run(args: &ExportArgs) -> Result<Counts, ExportError> {
    let range = TimeRange {
        from: args
            .from
            .as_deref()
            .map(|v| parse_time("from", v))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|v| parse_time("to", v))
            .transpose()?,
    };
    if let (Some(from), Some(to)) = (range.from, range.to) {
        if from >= to {
            return Err(ExportError::EmptyRange { from, to });
        }
    }
    let config = match &args.config {
        Some(path) => Some(rampart_core::config::load_file(path).map_err(|errors| {
            let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            ExportError::Config(lines.join("\n"))
        })?),
        None => None,
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| config.as_ref().and_then(|c| c.server.data_dir.clone()))
        .unwrap_or_else(|| PathBuf::from("./rampart-data"));
    // A data directory named on the command line wins over the config's [store].
    let store = match (&args.data_dir, &args.store_url) {
        (Some(_), None) => rampart_core::config::StoreConfig::default(),
        _ => config.map(|c| c.store).unwrap_or_default(),
    };
    let location = StoreLocation::choose(args.store_url.as_deref(), &store, data_dir, |v| {
        std::env::var(v).ok()
    })?;
    let mut source = match location {
        StoreLocation::Sqlite(dir) => Source::Sqlite(SqliteReader::open(&dir)?),
        StoreLocation::Postgres(url) => {
            Source::Postgres(Box::new(PostgresStore::open_reader(&url)?))
        }
    };
    std::fs::create_dir_all(&args.out).map_err(|source| ExportError::Io {
        path: args.out.display().to_string(),
        source,
    })?;
    let files = write_all(&mut source, range, &args.out, args.format);
    if files.is_err() {
        for t in TABLES {
            let _ = std::fs::remove_file(partial(&args.out, t, args.format));
        }
    }
    files
}

fn partial(out: &Path, table: &Table, format: ExportFormat) -> PathBuf {
    out.join(format!("{}.{}.partial", table.name, format.extension()))
}

/// Unix milliseconds (digits, optionally signed) or RFC 3339 text.
pub fn parse_time(flag: &'static str, value: &str) -> Result<Millis, ExportError> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let parsed = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().ok()
    } else {
        rampart_server::parse_rfc3339(value)
    };
    parsed.ok_or_else(|| ExportError::Time {
        flag,
        value: value.to_owned(),
    })
}

/// Creates `TABLE.EXT.partial` in `out`.
fn create(
    out: &Path,
    table: &'static Table,
    format: ExportFormat,
) -> Result<Box<dyn TableWriter>, ExportError> {
    let path = partial(out, table, format);
    Ok(match format {
        ExportFormat::Csv => Box::new(csv::CsvFile::create(path, table)?),
        ExportFormat::Parquet => Box::new(parquet_file::ParquetFile::create(path, table)?),
    })
}

/// What an export reads: a data directory, or the shared PostgreSQL store (read without its
/// writer lock, so an export runs beside the server).
enum Source {
    Sqlite(SqliteReader),
    Postgres(Box<PostgresStore>),
}

type Writer = Box<dyn TableWriter>;

/// Writes the four files from one snapshot, then renames them into place.
fn write_all(
    source: &mut Source,
    range: TimeRange,
    out: &Path,
    format: ExportFormat,
) -> Result<Counts, ExportError> {
    let mut files = [
        create(out, &EXPOSURES, format)?,
        create(out, &EVENTS, format)?,
        create(out, &IMPRESSIONS, format)?,
        create(out, &DECISIONS, format)?,
    ];
    let [exposures, events, impressions, decisions] = &mut files;
    match source {
        Source::Sqlite(reader) => {
            let snapshot = reader.snapshot()?;
            snapshot.exposures(range, |seq, x| exposure_row(exposures, seq, &x))?;
            snapshot.events(range, |seq, e| event_row(events, seq, &e))?;
            snapshot.impressions(range, |seq, m| impression_row(impressions, seq, &m))?;
            snapshot.decisions(range, |d| decision_row(decisions, &d))?;
        }
        Source::Postgres(store) => {
            // One pass over the log, in its order, from one snapshot; the time range filters.
            let mut failed = None;
            store.replay(0, &mut |seq, record| {
                if failed.is_some() {
                    return;
                }
                let written = match &record {
                    Record::Exposure(x) if range.contains(x.ts) => exposure_row(exposures, seq, x),
                    Record::Event(e) if range.contains(e.ts) => event_row(events, seq, e),
                    Record::Impression(m) if range.contains(m.ts) => {
                        impression_row(impressions, seq, m)
                    }
                    _ => Ok(()),
                };
                failed = written.err();
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            for d in store.decisions(None, usize::MAX)? {
                if range.contains(d.ts) {
                    decision_row(decisions, &d)?;
                }
            }
        }
    }
    let [exposures, events, impressions, decisions] = files;
    let counts = Counts {
        exposures: exposures.finish()?,
        events: events.finish()?,
        impressions: impressions.finish()?,
        decisions: decisions.finish()?,
    };

    // Every file is complete: only now do they replace what was there.
    for t in TABLES {
        let to = out.join(format!("{}.{}", t.name, format.extension()));
        std::fs::rename(partial(out, t, format), &to).map_err(|source| ExportError::Io {
            path: to.display().to_string(),
            source,
        })?;
    }
    Ok(counts)
}

fn exposure_row(file: &mut Writer, seq: i64, x: &Exposure) -> Result<(), ExportError> {
    let (kind, name) = x
        .entity
        .as_ref()
        .map(|(kind, name)| (kind.as_str(), name.as_str()))
        .unzip();
    file.row(&[
        Cell::Int(seq),
        Cell::Time(x.ts),
        Cell::Text(&x.model),
        Cell::Text(&x.unit),
        Cell::Text(&x.variant),
        Cell::Text(x.reason.as_str()),
        Cell::OptText(kind),
        Cell::OptText(name),
        Cell::UInt(x.assignment_id),
        Cell::Json(json("segments", seq, &x.segments)?),
    ])
}

fn event_row(file: &mut Writer, seq: i64, e: &OutcomeEvent) -> Result<(), ExportError> {
    file.row(&[
        Cell::Int(seq),
        Cell::Time(e.ts),
        Cell::Text(&e.id),
        Cell::Text(&e.kind),
        Cell::Text(&e.unit),
        Cell::Text(&e.model),
        Cell::OptNum(e.value),
        Cell::Json(json("attributes", seq, &e.attributes)?),
    ])
}

fn impression_row(file: &mut Writer, seq: i64, m: &ImpressionRecord) -> Result<(), ExportError> {
    file.row(&[
        Cell::Int(seq),
        Cell::Time(m.ts),
        Cell::Text(&m.model),
        Cell::Text(&m.experiment),
        Cell::Text(&m.unit),
        Cell::Text(&m.impression_id),
        Cell::Json(json("variants", seq, &m.variants)?),
        Cell::Json(json("impression", seq, &m.impression)?),
    ])
}

fn decision_row(file: &mut Writer, d: &Decision) -> Result<(), ExportError> {
    file.row(&[
        Cell::Int(d.id),
        Cell::Time(d.ts),
        Cell::Text(d.entity_kind.as_str()),
        Cell::Text(&d.entity),
        Cell::Text(&d.action),
        Cell::Text(&d.from_state),
        Cell::Text(&d.to_state),
        Cell::Text(&d.reason),
        Cell::Text(&d.actor),
        Cell::Json(json("evidence", d.id, &d.evidence)?),
    ])
}

fn json<T: serde::Serialize + ?Sized>(
    what: &'static str,
    key: i64,
    value: &T,
) -> Result<String, ExportError> {
    serde_json::to_string(value).map_err(|source| ExportError::Json { what, key, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times_in_both_forms() {
        assert_eq!(
            parse_time("from", "1700000000000").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(parse_time("from", "-5").unwrap(), -5);
        assert_eq!(
            parse_time("from", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("to", "2023-11-14T23:13:20.5+01:00").unwrap(),
            1_700_000_000_500
        );
        for bad in ["", "-", "yesterday", "2023-11-14", "12e3"] {
            let e = parse_time("to", bad).unwrap_err();
            assert!(e.to_string().starts_with("--to "), "{e}");
        }
    }

    #[test]
    fn every_table_has_one_time_column_named_ts_after_its_key() {
        // The CSV files spell `ts` as the two columns `ts_ms, ts`; the Parquet files as one.
        for t in TABLES {
            let kinds: Vec<Kind> = t.columns.iter().map(|c| c.1).collect();
            assert_eq!(t.columns[1], ("ts", Kind::Time), "{}", t.name);
            assert_eq!(
                kinds.iter().filter(|k| **k == Kind::Time).count(),
                1,
                "{}",
                t.name
            );
        }
    }
}
