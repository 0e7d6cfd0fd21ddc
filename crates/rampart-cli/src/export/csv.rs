//! The CSV form of an export table: RFC 4180, a header row, CRLF line ends, a field quoted when
//! it holds a comma, a quote, CR or LF, quotes doubled. A time column is written twice, as Unix
//! milliseconds (`NAME_ms`) and as RFC 3339 in UTC (`NAME`); a missing value is an empty field.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::{Cell, ExportError, Kind, Table, TableWriter};
use crate::table;

/// One CSV file being written; `rows` counts data rows (the header excluded).
pub struct CsvFile {
    path: PathBuf,
    out: BufWriter<File>,
    rows: u64,
    line: String,
}

impl CsvFile {
    /// Creates the file at `path` and writes the header row of `table`.
    pub fn create(path: PathBuf, table: &Table) -> Result<CsvFile, ExportError> {
        let file = File::create(&path).map_err(|source| ExportError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut csv = CsvFile {
            path,
            out: BufWriter::new(file),
            rows: 0,
            line: String::new(),
        };
        let header = header(table);
        let fields: Vec<&str> = header.iter().map(String::as_str).collect();
        write_row(&mut csv.line, &fields);
        csv.flush_line()?;
        Ok(csv)
    }

    fn flush_line(&mut self) -> Result<(), ExportError> {
        let written = self.out.write_all(self.line.as_bytes());
        self.line.clear();
        written.map_err(|source| self.io(source))
    }

    fn io(&self, source: std::io::Error) -> ExportError {
        ExportError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

impl TableWriter for CsvFile {
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        let mut texts: Vec<std::borrow::Cow<'_, str>> = Vec::with_capacity(cells.len() + 1);
        for cell in cells {
            match cell {
                Cell::Int(v) => texts.push(v.to_string().into()),
                Cell::UInt(v) => texts.push(v.to_string().into()),
                Cell::Time(ms) => {
                    texts.push(ms.to_string().into());
                    texts.push(table::rfc3339(*ms).into());
                }
                Cell::Text(s) | Cell::OptText(Some(s)) => texts.push((*s).into()),
                Cell::OptText(None) | Cell::OptNum(None) => texts.push("".into()),
                Cell::OptNum(Some(v)) => texts.push(v.to_string().into()),
                Cell::Json(s) => texts.push(s.as_str().into()),
            }
        }
        let fields: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        write_row(&mut self.line, &fields);
        self.flush_line()?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, ExportError> {
        self.out.flush().map_err(|source| self.io(source))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|source| self.io(source))?;
        Ok(self.rows)
    }
}

/// The header of `table`: a time column `ts` becomes `ts_ms, ts`.
fn header(table: &Table) -> Vec<String> {
    let mut out = Vec::new();
    for (name, kind) in table.columns {
        if *kind == Kind::Time {
            out.push(format!("{name}_ms"));
        }
        out.push((*name).to_owned());
    }
    out
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
    fn a_time_column_is_written_as_milliseconds_and_text() {
        assert_eq!(
            header(&super::super::EVENTS).join(","),
            "seq,ts_ms,ts,id,type,unit,model,value,attributes"
        );
    }
}
