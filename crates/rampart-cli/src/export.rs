//! `rampart export`: the log (exposures, outcome events, impressions) and the decision log of a
//! data directory as CSV files, filtered by time, read through the store's lock-free reader so
//! the server can keep running.
//!
//! Files follow RFC 4180: a header row, CRLF line ends, a field quoted when it holds a comma, a
//! quote, CR or LF, quotes doubled. Rows are written as they are read (nothing is collected),
//! into `NAME.csv.partial` files renamed into place only when all four are complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use rampart_core::Millis;
use rampart_store::{SqliteReader, StoreError, TimeRange};

use crate::table;

#[derive(Args)]
pub struct ExportArgs {
    /// The data directory to read (default: the config's server.data_dir, else ./rampart-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The config file, read only for server.data_dir.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Where to write the CSV files (created if missing; files of the same name are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Only records with ts at or after this time (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    from: Option<String>,
    /// Only records with ts before this time (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: ExportFormat,
    /// Print the row counts as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Default, ValueEnum)]
pub enum ExportFormat {
    #[default]
    Csv,
    Parquet,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("Parquet export is planned but not available yet; use --format csv")]
    ParquetPlanned,
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

pub fn export(args: &ExportArgs) -> Result<(), String> {
    let counts = run(args).map_err(|e| e.to_string())?;
    if args.json {
        let body = serde_json::json!({
            "out": args.out.display().to_string(),
            "exposures": counts.exposures,
            "events": counts.events,
            "impressions": counts.impressions,
            "decisions": counts.decisions,
        });
        println!("{body}");
        return Ok(());
    }
    table::print(
        &["FILE", "ROWS"],
        [
            ("exposures.csv", counts.exposures),
            ("events.csv", counts.events),
            ("impressions.csv", counts.impressions),
            ("decisions.csv", counts.decisions),
        ]
        .into_iter()
        .map(|(file, n)| vec![args.out.join(file).display().to_string(), n.to_string()]),
    );
    Ok(())
}

fn run(args: &ExportArgs) -> Result<Counts, ExportError> {
    if let ExportFormat::Parquet = args.format {
        return Err(ExportError::ParquetPlanned);
    }
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
    let data_dir = match (&args.data_dir, &args.config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(config)) => rampart_core::config::load_file(config)
            .map_err(|errors| {
                let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
                ExportError::Config(lines.join("\n"))
            })?
            .server
            .data_dir
            .unwrap_or_else(|| PathBuf::from("./rampart-data")),
        (None, None) => PathBuf::from("./rampart-data"),
    };
    let mut reader = SqliteReader::open(&data_dir)?;
    std::fs::create_dir_all(&args.out).map_err(|source| ExportError::Io {
        path: args.out.display().to_string(),
        source,
    })?;
    let files = write_all(&mut reader, range, &args.out);
    if files.is_err() {
        for name in NAMES {
            let _ = std::fs::remove_file(partial(&args.out, name));
        }
    }
    files
}

const NAMES: [&str; 4] = ["exposures", "events", "impressions", "decisions"];

fn partial(out: &Path, name: &str) -> PathBuf {
    out.join(format!("{name}.csv.partial"))
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

/// Writes the four files from one snapshot, then renames them into place.
fn write_all(
    reader: &mut SqliteReader,
    range: TimeRange,
    out: &Path,
) -> Result<Counts, ExportError> {
    let snapshot = reader.snapshot()?;
    let mut counts = Counts::default();

    let mut csv = CsvFile::create(
        out,
        "exposures",
        &[
            "seq",
            "ts_ms",
            "ts",
            "model",
            "unit",
            "variant",
            "reason",
            "entity_kind",
            "entity",
            "assignment_id",
            "segments",
        ],
    )?;
    snapshot.exposures(range, |seq, x| {
        let (kind, name) = match &x.entity {
            Some((kind, name)) => (kind.as_str(), name.as_str()),
            None => ("", ""),
        };
        csv.row([
            &seq.to_string(),
            &x.ts.to_string(),
            &table::rfc3339(x.ts),
            &x.model,
            &x.unit,
            &x.variant,
            x.reason.as_str(),
            kind,
            name,
            &x.assignment_id.to_string(),
            &json("segments", seq, &x.segments)?,
        ])
    })?;
    counts.exposures = csv.finish()?;

    let mut csv = CsvFile::create(
        out,
        "events",
        &[
            "seq",
            "ts_ms",
            "ts",
            "id",
            "type",
            "unit",
            "model",
            "value",
            "attributes",
        ],
    )?;
    snapshot.events(range, |seq, e| {
        csv.row([
            &seq.to_string(),
            &e.ts.to_string(),
            &table::rfc3339(e.ts),
            &e.id,
            &e.kind,
            &e.unit,
            &e.model,
            &e.value.map(|v| v.to_string()).unwrap_or_default(),
            &json("attributes", seq, &e.attributes)?,
        ])
    })?;
    counts.events = csv.finish()?;

    let mut csv = CsvFile::create(
        out,
        "impressions",
        &[
            "seq",
            "ts_ms",
            "ts",
            "model",
            "experiment",
            "unit",
            "impression_id",
            "variants",
            "impression",
        ],
    )?;
    snapshot.impressions(range, |seq, m| {
        csv.row([
            &seq.to_string(),
            &m.ts.to_string(),
            &table::rfc3339(m.ts),
            &m.model,
            &m.experiment,
            &m.unit,
            &m.impression_id,
            &json("variants", seq, &m.variants)?,
            &json("impression", seq, &m.impression)?,
        ])
    })?;
    counts.impressions = csv.finish()?;

    let mut csv = CsvFile::create(
        out,
        "decisions",
        &[
            "id",
            "ts_ms",
            "ts",
            "entity_kind",
            "entity",
            "action",
            "from_state",
            "to_state",
            "reason",
            "actor",
            "evidence",
        ],
    )?;
    snapshot.decisions(range, |d| {
        csv.row([
            &d.id.to_string(),
            &d.ts.to_string(),
            &table::rfc3339(d.ts),
            d.entity_kind.as_str(),
            &d.entity,
            &d.action,
            &d.from_state,
            &d.to_state,
            &d.reason,
            &d.actor,
            &json("evidence", d.id, &d.evidence)?,
        ])
    })?;
    counts.decisions = csv.finish()?;
    drop(snapshot);

    // Every file is complete: only now do they replace what was there.
    for name in NAMES {
        let to = out.join(format!("{name}.csv"));
        std::fs::rename(partial(out, name), &to).map_err(|source| ExportError::Io {
            path: to.display().to_string(),
            source,
        })?;
    }
    Ok(counts)
}

fn json<T: serde::Serialize + ?Sized>(
    what: &'static str,
    key: i64,
    value: &T,
) -> Result<String, ExportError> {
    serde_json::to_string(value).map_err(|source| ExportError::Json { what, key, source })
}

/// One CSV file being written; `rows` counts data rows (the header excluded).
struct CsvFile {
    path: PathBuf,
    out: BufWriter<File>,
    rows: u64,
}

impl CsvFile {
    /// Creates `NAME.csv.partial` in `dir` and writes the header row.
    fn create(dir: &Path, name: &str, header: &[&str]) -> Result<CsvFile, ExportError> {
        let path = partial(dir, name);
        let file = File::create(&path).map_err(|source| ExportError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut csv = CsvFile {
            path,
            out: BufWriter::new(file),
            rows: 0,
        };
        csv.write(header)?;
        Ok(csv)
    }

    fn row<const N: usize>(&mut self, fields: [&str; N]) -> Result<(), ExportError> {
        self.write(&fields)?;
        self.rows += 1;
        Ok(())
    }

    fn write(&mut self, fields: &[&str]) -> Result<(), ExportError> {
        let mut line = String::new();
        write_row(&mut line, fields);
        self.out
            .write_all(line.as_bytes())
            .map_err(|source| self.io(source))
    }

    /// Flushes and syncs the file; returns the number of data rows.
    fn finish(mut self) -> Result<u64, ExportError> {
        self.out.flush().map_err(|source| self.io(source))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|source| self.io(source))?;
        Ok(self.rows)
    }

    fn io(&self, source: std::io::Error) -> ExportError {
        ExportError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

/// Appends one RFC 4180 record (fields and the CRLF) to `line`.
fn write_row(line: &mut String, fields: &[&str]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[&str]) -> String {
        let mut line = String::new();
        write_row(&mut line, fields);
        line
    }

    #[test]
    fn quotes_only_fields_that_need_it() {
        assert_eq!(row(&["a", "b c", ""]), "a,b c,\r\n");
        assert_eq!(
            row(&["x,y", "say \"hi\""]),
            "\"x,y\",\"say \"\"hi\"\"\"\r\n"
        );
        assert_eq!(row(&["l1\nl2", "r\r"]), "\"l1\nl2\",\"r\r\"\r\n");
    }

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
}
