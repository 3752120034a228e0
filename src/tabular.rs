//! Event files in CSV (SPEC §1's columns, a header row), read with polars
//! and validated exactly like NDJSON lines, so `analyze` gives identical
//! figures for the same events. The other module that imports polars
//! (with `report`).

use crate::domain::{EventError, EventSet, Insert, Location, MessageEvent};
use crate::ndjson::{OnInvalid, ReadSummary};
use anyhow::Context;
use polars::prelude::{CsvReadOptions, SerReader};
use serde_json::{Map, Value};
use std::path::Path;

/// Reads a CSV event file into a new set. Every column is read as text;
/// `at` that is all digits is the unix-time integer of SPEC §1, an empty
/// `agent` is no agent, other columns are ignored.
pub fn read_csv(path: &Path, on_invalid: OnInvalid) -> anyhow::Result<(EventSet, ReadSummary)> {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0)) // every column as text: no float guessing
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| anyhow::anyhow!("reading CSV {}: {e}", path.display()))?;
    let fields = [
        "id",
        "account",
        "channel",
        "conversation",
        "from",
        "at",
        "agent",
    ];
    let columns: Vec<Option<Vec<Option<String>>>> = fields
        .iter()
        .map(|name| {
            df.column(name).ok().map(|c| {
                c.str()
                    .map(|s| s.iter().map(|v| v.map(String::from)).collect())
                    .unwrap_or_default()
            })
        })
        .collect();
    let mut set = EventSet::with_capacity(df.height());
    let mut summary = ReadSummary::default();
    for row in 0..df.height() {
        // Line numbers count the header as line 1.
        let line = row as u64 + 2;
        summary.lines += 1;
        let mut object = Map::new();
        for (name, column) in fields.iter().zip(&columns) {
            let Some(value) = column.as_ref().and_then(|c| c[row].clone()) else {
                continue;
            };
            let value = match *name {
                "at" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => value
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or(Value::String(value)),
                "agent" if value.is_empty() => continue,
                _ => Value::String(value),
            };
            object.insert(name.to_string(), value);
        }
        match MessageEvent::from_value(&Value::Object(object)) {
            Ok(e) => match set.insert(e) {
                Insert::New => {}
                Insert::Duplicate => summary.duplicates += 1,
                Insert::Conflict => summary.conflicts.push(line),
            },
            Err(problems) => {
                let errors = problems.into_iter().map(|problem| EventError {
                    location: Location::Line(line),
                    problem,
                });
                match on_invalid {
                    OnInvalid::Fail => {
                        let first = errors.into_iter().next().context("an invalid row")?;
                        return Err(anyhow::Error::new(first));
                    }
                    OnInvalid::Skip => summary.rejected.extend(errors),
                }
            }
        }
    }
    Ok((set, summary))
}
