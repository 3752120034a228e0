//! Event files in CSV or Parquet (SPEC §1's columns), read with polars and
//! validated exactly like NDJSON lines, so `analyze` and `report` give
//! identical figures for the same events. With `report`, the only modules
//! that import polars.

use crate::domain::{EventError, EventSet, Insert, Location, MessageEvent, Timestamp};
use crate::files::ndjson::{OnInvalid, ReadSummary};
use anyhow::Context;
use polars::prelude::{CsvReadOptions, DataFrame, DataType, ParquetReader, SerReader, TimeUnit};
use serde_json::{Map, Value};
use std::path::Path;

const FIELDS: [&str; 7] = [
    "id",
    "account",
    "channel",
    "conversation",
    "from",
    "at",
    "agent",
];

/// Reads a CSV event file (header row). Every column is read as text; an
/// `at` that is all digits is SPEC §1's unix-time integer.
pub fn read_csv(path: &Path, on_invalid: OnInvalid) -> anyhow::Result<(EventSet, ReadSummary)> {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0)) // every column as text: no float guessing
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| anyhow::anyhow!("reading CSV {}: {e}", path.display()))?;
    // Line numbers count the header as line 1.
    read_frame(&df, on_invalid, |row| Location::Line(row as u64 + 2))
}

/// Reads a Parquet event file. `at` may be text (RFC 3339 or digits), an
/// integer (unix seconds, or milliseconds above 1e11) or a timestamp.
pub fn read_parquet(path: &Path, on_invalid: OnInvalid) -> anyhow::Result<(EventSet, ReadSummary)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| anyhow::anyhow!("reading Parquet {}: {e}", path.display()))?;
    // Rows are named by their 0-based index.
    read_frame(&df, on_invalid, |row| Location::Index(row as u64))
}

/// One column as JSON values, by its type.
fn column_values(df: &DataFrame, name: &str) -> anyhow::Result<Option<Vec<Option<Value>>>> {
    let Ok(column) = df.column(name) else {
        return Ok(None);
    };
    let values: Vec<Option<Value>> = match column.dtype() {
        DataType::Datetime(unit, _) => {
            let per_micro = match unit {
                TimeUnit::Nanoseconds => 1_000.0,
                TimeUnit::Microseconds => 1.0,
                TimeUnit::Milliseconds => 0.001,
            };
            let raw = column.cast(&DataType::Int64)?;
            raw.i64()?
                .iter()
                .map(|v| {
                    v.map(|v| {
                        Value::String(
                            Timestamp::from_unix_micros((v as f64 / per_micro) as i64).to_string(),
                        )
                    })
                })
                .collect()
        }
        dt if dt.is_integer() => {
            let raw = column.cast(&DataType::Int64)?;
            raw.i64()?.iter().map(|v| v.map(Value::from)).collect()
        }
        _ => {
            let text = column.cast(&DataType::String)?;
            text.str()?
                .iter()
                .map(|v| {
                    v.map(|s| match name {
                        "at" if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                            .parse::<u64>()
                            .map(Value::from)
                            .unwrap_or_else(|_| Value::String(s.to_string())),
                        _ => Value::String(s.to_string()),
                    })
                })
                .collect()
        }
    };
    Ok(Some(values))
}

/// Rows of SPEC §1 columns into a set, each row validated like a line.
fn read_frame(
    df: &DataFrame,
    on_invalid: OnInvalid,
    location: impl Fn(usize) -> Location,
) -> anyhow::Result<(EventSet, ReadSummary)> {
    let columns = FIELDS
        .iter()
        .map(|name| column_values(df, name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut set = EventSet::with_capacity(df.height());
    let mut summary = ReadSummary::default();
    for row in 0..df.height() {
        summary.lines += 1;
        let mut object = Map::new();
        for (name, column) in FIELDS.iter().zip(&columns) {
            let Some(value) = column.as_ref().and_then(|c| c[row].clone()) else {
                continue;
            };
            if *name == "agent" && value.as_str() == Some("") {
                continue; // an empty agent is no agent
            }
            object.insert(name.to_string(), value);
        }
        match MessageEvent::from_value(&Value::Object(object)) {
            Ok(e) => match set.insert(e) {
                Insert::New => {}
                Insert::Duplicate => summary.duplicates += 1,
                Insert::Conflict => summary.conflicts.push(row as u64 + 1),
            },
            Err(problems) => {
                let mut errors = problems.into_iter().map(|problem| EventError {
                    location: location(row),
                    problem,
                });
                match on_invalid {
                    OnInvalid::Fail => {
                        let first = errors.next().context("an invalid row")?;
                        return Err(anyhow::Error::new(first));
                    }
                    OnInvalid::Skip => summary.rejected.extend(errors),
                }
            }
        }
    }
    Ok((set, summary))
}
