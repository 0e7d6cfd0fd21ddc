//! The Parquet form of an export table, written with the `parquet` crate's column writers (no
//! Arrow): one flat schema per table, Snappy-compressed pages, dictionary encoding where it
//! pays, rows buffered per column and written out as a row group every [`ROW_GROUP_ROWS`] rows
//! or [`ROW_GROUP_BYTES`] of buffered values, whichever comes first, so memory stays bounded
//! whatever the size of the log.
//!
//! Column types: `Int` INT64; `UInt` INT64 annotated INTEGER(64, unsigned) (the bits of the
//! u64, as the format stores unsigned 64-bit integers); `Time` INT64 TIMESTAMP(MILLIS, UTC);
//! `Text` and `Json` BYTE_ARRAY STRING; `OptText` and `OptNum` (DOUBLE) OPTIONAL, every other
//! column REQUIRED.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use super::{Cell, ExportError, Kind, Table, TableWriter};

/// Rows per row group (DuckDB's and Arrow's readers parallelise over row groups).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Buffered value bytes (text bytes plus 8 per number) that end a row group early.
pub const ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;
/// Values handed to a column writer per call, bounding the transient text values.
const BATCH: usize = 8 * 1024;

/// The Parquet schema of `table`.
pub fn schema(table: &Table) -> Result<Type, ParquetError> {
    let fields = table
        .columns
        .iter()
        .map(|&(name, kind)| {
            let (physical, logical) = match kind {
                Kind::Int => (PhysicalType::INT64, None),
                Kind::UInt => (PhysicalType::INT64, Some(LogicalType::integer(64, false))),
                Kind::Time => (
                    PhysicalType::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
                ),
                Kind::Text | Kind::OptText | Kind::Json => {
                    (PhysicalType::BYTE_ARRAY, Some(LogicalType::String))
                }
                Kind::OptNum => (PhysicalType::DOUBLE, None),
            };
            let repetition = match kind {
                Kind::OptText | Kind::OptNum => Repetition::OPTIONAL,
                _ => Repetition::REQUIRED,
            };
            Type::primitive_type_builder(name, physical)
                .with_repetition(repetition)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Type::group_type_builder(table.name)
        .with_fields(fields)
        .build()
}

/// The values of one column for the rows of the current row group.
enum Buffer {
    Int64(Vec<i64>),
    Double {
        values: Vec<f64>,
        /// Definition level per row: 1 present, 0 missing.
        def: Vec<i16>,
    },
    Text {
        /// The present values, back to back; `ends[i]` is where value i ends.
        data: Vec<u8>,
        ends: Vec<usize>,
        /// Per row for an optional column.
        def: Option<Vec<i16>>,
    },
}

impl Buffer {
    fn for_kind(kind: Kind) -> Buffer {
        match kind {
            Kind::Int | Kind::UInt | Kind::Time => Buffer::Int64(Vec::new()),
            Kind::OptNum => Buffer::Double {
                values: Vec::new(),
                def: Vec::new(),
            },
            Kind::Text | Kind::Json => Buffer::Text {
                data: Vec::new(),
                ends: Vec::new(),
                def: None,
            },
            Kind::OptText => Buffer::Text {
                data: Vec::new(),
                ends: Vec::new(),
                def: Some(Vec::new()),
            },
        }
    }

    /// Adds one cell (of the column's kind, checked by the caller); returns the bytes it holds.
    fn push(&mut self, cell: &Cell<'_>) -> usize {
        match (self, cell) {
            (Buffer::Int64(values), Cell::Int(v) | Cell::Time(v)) => values.push(*v),
            // The format keeps an unsigned 64-bit integer's bits in an INT64.
            (Buffer::Int64(values), Cell::UInt(v)) => values.push(*v as i64),
            (Buffer::Double { values, def }, Cell::OptNum(v)) => {
                def.push(i16::from(v.is_some()));
                values.extend(v);
            }
            (Buffer::Text { data, ends, def }, cell) => {
                let text = match cell {
                    Cell::Text(s) | Cell::OptText(Some(s)) => Some(*s),
                    Cell::Json(s) => Some(s.as_str()),
                    _ => None,
                };
                if let Some(def) = def {
                    def.push(i16::from(text.is_some()));
                }
                if let Some(text) = text {
                    data.extend_from_slice(text.as_bytes());
                    ends.push(data.len());
                    return text.len();
                }
                return 0;
            }
            _ => return 0,
        }
        8
    }

    /// Writes the buffered values into `writer` and empties the buffer.
    fn write(&mut self, writer: &mut ColumnWriter<'_>) -> Result<(), ParquetError> {
        match (self, writer) {
            (Buffer::Int64(values), ColumnWriter::Int64ColumnWriter(w)) => {
                w.write_batch(values, None, None)?;
                values.clear();
            }
            (Buffer::Double { values, def }, ColumnWriter::DoubleColumnWriter(w)) => {
                w.write_batch(values, Some(def), None)?;
                values.clear();
                def.clear();
            }
            (Buffer::Text { data, ends, def }, ColumnWriter::ByteArrayColumnWriter(w)) => {
                let data = Bytes::from(std::mem::take(data));
                let rows = def.as_ref().map_or(ends.len(), Vec::len);
                let mut batch: Vec<ByteArray> = Vec::with_capacity(BATCH.min(ends.len()));
                let (mut row, mut next, mut start) = (0, 0, 0);
                while row < rows {
                    let n = BATCH.min(rows - row);
                    let levels = def.as_deref().map(|d| &d[row..row + n]);
                    let present = levels.map_or(n, |l| l.iter().filter(|&&l| l == 1).count());
                    batch.clear();
                    for &end in &ends[next..next + present] {
                        batch.push(ByteArray::from(data.slice(start..end)));
                        start = end;
                    }
                    w.write_batch(&batch, levels, None)?;
                    next += present;
                    row += n;
                }
                if let Some(def) = def {
                    def.clear();
                }
                ends.clear();
            }
            _ => {
                return Err(ParquetError::General(
                    "a column's buffer does not match its physical type".to_owned(),
                ))
            }
        }
        Ok(())
    }
}

/// Writes one table's rows as Parquet into `W`, a row group at a time.
pub struct ParquetWriter<W: Write + Send> {
    table: &'static Table,
    writer: SerializedFileWriter<W>,
    buffers: Vec<Buffer>,
    buffered_rows: usize,
    buffered_bytes: usize,
    rows: u64,
}

impl<W: Write + Send> ParquetWriter<W> {
    pub fn new(sink: W, table: &'static Table) -> Result<Self, ParquetError> {
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("rampart {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer =
            SerializedFileWriter::new(sink, Arc::new(schema(table)?), Arc::new(properties))?;
        Ok(ParquetWriter {
            table,
            writer,
            buffers: table
                .columns
                .iter()
                .map(|&(_, kind)| Buffer::for_kind(kind))
                .collect(),
            buffered_rows: 0,
            buffered_bytes: 0,
            rows: 0,
        })
    }

    pub fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ParquetError> {
        let columns = self.table.columns;
        let matches = cells.len() == columns.len()
            && cells.iter().zip(columns).all(|(c, (_, k))| c.kind() == *k);
        if !matches {
            let kinds: Vec<Kind> = cells.iter().map(Cell::kind).collect();
            return Err(ParquetError::General(format!(
                "a row of {:?} does not match the columns of {}",
                kinds, self.table.name
            )));
        }
        for (buffer, cell) in self.buffers.iter_mut().zip(cells) {
            self.buffered_bytes += buffer.push(cell);
        }
        self.buffered_rows += 1;
        self.rows += 1;
        if self.buffered_rows >= ROW_GROUP_ROWS || self.buffered_bytes >= ROW_GROUP_BYTES {
            self.flush_row_group()?;
        }
        Ok(())
    }

    fn flush_row_group(&mut self) -> Result<(), ParquetError> {
        let mut group = self.writer.next_row_group()?;
        for buffer in &mut self.buffers {
            let mut column = group.next_column()?.ok_or_else(|| {
                ParquetError::General("the schema has fewer columns than the table".to_owned())
            })?;
            buffer.write(column.untyped())?;
            column.close()?;
        }
        group.close()?;
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the sink and the number of rows.
    pub fn finish(mut self) -> Result<(W, u64), ParquetError> {
        if self.buffered_rows > 0 {
            self.flush_row_group()?;
        }
        let rows = self.rows;
        Ok((self.writer.into_inner()?, rows))
    }
}

/// A Parquet file being written at `path`.
pub struct ParquetFile {
    path: PathBuf,
    writer: ParquetWriter<BufWriter<File>>,
}

impl ParquetFile {
    pub fn create(path: PathBuf, table: &'static Table) -> Result<ParquetFile, ExportError> {
        let file = File::create(&path).map_err(|source| ExportError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let writer = ParquetWriter::new(BufWriter::new(file), table).map_err(|source| {
            ExportError::Parquet {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(ParquetFile { path, writer })
    }

    fn error(&self, source: ParquetError) -> ExportError {
        ExportError::Parquet {
            path: self.path.display().to_string(),
            source,
        }
    }
}

impl TableWriter for ParquetFile {
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        self.writer.row(cells).map_err(|e| self.error(e))
    }

    fn finish(self: Box<Self>) -> Result<u64, ExportError> {
        let ParquetFile { path, writer } = *self;
        let io = |source| ExportError::Io {
            path: path.display().to_string(),
            source,
        };
        let (out, rows) = writer.finish().map_err(|source| ExportError::Parquet {
            path: path.display().to_string(),
            source,
        })?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{DECISIONS, EVENTS, EXPOSURES};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    fn read(bytes: Vec<u8>) -> SerializedFileReader<Bytes> {
        SerializedFileReader::new(Bytes::from(bytes)).unwrap()
    }

    #[test]
    fn row_groups_end_at_the_row_bound_and_every_value_reads_back() {
        let mut w = ParquetWriter::new(Vec::new(), &EVENTS).unwrap();
        let n = ROW_GROUP_ROWS + 10;
        for i in 0..n {
            let id = format!("e{i}");
            // Every third event has no value.
            let value = (i % 3 != 0).then_some(i as f64 / 4.0);
            w.row(&[
                Cell::Int(i as i64),
                Cell::Time(1_700_000_000_000 + i as i64),
                Cell::Text(&id),
                Cell::Text("click"),
                Cell::Text(if i % 2 == 0 { "u-even" } else { "u-odd" }),
                Cell::Text("m"),
                Cell::OptNum(value),
                Cell::Json("{}".to_owned()),
            ])
            .unwrap();
        }
        let (bytes, rows) = w.finish().unwrap();
        assert_eq!(rows, n as u64);
        let reader = read(bytes);
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 2);
        assert_eq!(meta.row_group(0).num_rows(), ROW_GROUP_ROWS as i64);
        assert_eq!(meta.row_group(1).num_rows(), 10);
        let mut seen = 0usize;
        for (i, row) in reader.get_row_iter(None).unwrap().enumerate() {
            let row = row.unwrap();
            let fields: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
            assert_eq!(fields[0], &Field::Long(i as i64));
            assert_eq!(
                fields[1],
                &Field::TimestampMillis(1_700_000_000_000 + i as i64)
            );
            assert_eq!(fields[2], &Field::Str(format!("e{i}")));
            let value = match i % 3 {
                0 => Field::Null,
                _ => Field::Double(i as f64 / 4.0),
            };
            assert_eq!(fields[6], &value);
            seen += 1;
        }
        assert_eq!(seen, n);
    }

    #[test]
    fn large_text_ends_a_row_group_early() {
        let mut w = ParquetWriter::new(Vec::new(), &DECISIONS).unwrap();
        let evidence = format!("\"{}\"", "x".repeat(ROW_GROUP_BYTES / 4));
        for i in 0..5 {
            w.row(&[
                Cell::Int(i),
                Cell::Time(i),
                Cell::Text("rollout"),
                Cell::Text("r"),
                Cell::Text("advance"),
                Cell::Text("a"),
                Cell::Text("b"),
                Cell::Text("why"),
                Cell::Text("controller"),
                Cell::Json(evidence.clone()),
            ])
            .unwrap();
        }
        let (bytes, _) = w.finish().unwrap();
        let reader = read(bytes);
        let groups: Vec<i64> = (0..reader.metadata().num_row_groups())
            .map(|i| reader.metadata().row_group(i).num_rows())
            .collect();
        assert_eq!(groups, [4, 1]);
    }

    #[test]
    fn an_empty_table_is_a_valid_file_with_its_schema() {
        let w = ParquetWriter::new(Vec::new(), &EXPOSURES).unwrap();
        let (bytes, rows) = w.finish().unwrap();
        assert_eq!(rows, 0);
        let reader = read(bytes);
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
        assert_eq!(
            reader
                .metadata()
                .file_metadata()
                .schema_descr()
                .num_columns(),
            10
        );
    }

    #[test]
    fn a_row_of_the_wrong_shape_is_an_error() {
        let mut w = ParquetWriter::new(Vec::new(), &EVENTS).unwrap();
        let e = w.row(&[Cell::Int(1), Cell::Text("x")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("does not match the columns of events"),
            "{e}"
        );
        let mut cells = vec![Cell::Int(1), Cell::Int(2)];
        cells.extend((0..6).map(|_| Cell::Text("t")));
        assert!(w.row(&cells).is_err());
    }

    /// A sink that fails once `limit` bytes have been written.
    struct Full {
        written: usize,
        limit: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.written + buf.len() > self.limit {
                return Err(std::io::Error::other("no space left"));
            }
            self.written += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_sink_is_an_error_not_a_panic() {
        let sink = Full {
            written: 0,
            limit: 10_000,
        };
        let mut w = ParquetWriter::new(sink, &EVENTS).unwrap();
        let mut failed = None;
        for i in 0..(ROW_GROUP_ROWS as i64 * 2) {
            let id = format!("event-{i}");
            let cells = [
                Cell::Int(i),
                Cell::Time(i),
                Cell::Text(&id),
                Cell::Text("click"),
                Cell::Text(&id),
                Cell::Text("m"),
                Cell::OptNum(Some(1.0)),
                Cell::Json("{}".to_owned()),
            ];
            if let Err(e) = w.row(&cells) {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("the first row group cannot fit in 10 kB");
        assert!(e.to_string().contains("no space left"), "{e}");
    }
}
