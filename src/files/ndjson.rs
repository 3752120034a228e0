//! Reads NDJSON event streams (files, stdin) into an [`EventSet`]: blocks of
//! lines are parsed on every core while the previous block is inserted, so
//! parsing and de-duplication overlap. The result is the same whatever the
//! thread count: lines are inserted in file order. Owns no other IO.

use crate::domain::{EventError, EventSet, FieldError, Insert, Location, MessageEvent};
use rayon::prelude::*;
use std::io::Read;

/// Bytes read per block; large enough to keep both cores busy.
const BLOCK_BYTES: usize = 8 << 20;

/// What reading a stream found besides the events themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadSummary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Exact duplicates, counted once (SPEC §2).
    pub duplicates: u64,
    /// Lines whose id was seen before with other content; the earlier line wins.
    pub conflicts: Vec<u64>,
    /// Bad lines, when reading with `skip_invalid`.
    pub rejected: Vec<EventError>,
}

/// A failure to read the stream: IO, or the first bad line.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("reading input")]
    Io(#[from] std::io::Error),
}

/// How to treat bad lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    /// Stop at the first bad line (in file order).
    Fail,
    /// Keep going, list them in [`ReadSummary::rejected`].
    Skip,
}

type Parsed = Vec<(u64, Result<MessageEvent, Vec<FieldError>>)>;

/// Splits a block into (line number, line) pairs, skipping blank lines.
fn split_lines(block: &[u8], first_line: u64) -> Vec<(u64, &[u8])> {
    block
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (first_line + i as u64, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

fn parse_block(block: &[u8], first_line: u64) -> Parsed {
    split_lines(block, first_line)
        .into_par_iter()
        .with_min_len(512)
        .map(|(n, line)| (n, MessageEvent::from_json(line)))
        .collect()
}

fn insert_block(
    set: &mut EventSet,
    parsed: Parsed,
    summary: &mut ReadSummary,
    on_invalid: OnInvalid,
) -> Result<(), EventError> {
    for (line, result) in parsed {
        summary.lines += 1;
        match result {
            Ok(event) => match set.insert(event) {
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
                    OnInvalid::Skip => summary.rejected.extend(errors),
                    OnInvalid::Fail => {
                        let mut errors = errors;
                        if let Some(first) = errors.next() {
                            return Err(first);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reads a whole NDJSON stream into `set`, reporting progress in bytes read.
pub fn read_into(
    mut reader: impl Read,
    set: &mut EventSet,
    on_invalid: OnInvalid,
    mut progress: impl FnMut(u64),
) -> Result<ReadSummary, ReadError> {
    let mut summary = ReadSummary::default();
    let mut pending: Option<Parsed> = None;
    let mut carry: Vec<u8> = Vec::new();
    let mut next_line: u64 = 1;
    let mut eof = false;
    while !eof {
        let mut block = std::mem::take(&mut carry);
        let start = block.len();
        block.resize(start + BLOCK_BYTES, 0);
        let mut filled = start;
        while filled < block.len() {
            match reader.read(&mut block[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        block.truncate(filled);
        progress((filled - start) as u64);
        // Keep a trailing partial line for the next block.
        if !eof {
            match block.iter().rposition(|&b| b == b'\n') {
                Some(nl) => carry = block.split_off(nl + 1),
                None => {
                    carry = block;
                    continue;
                }
            }
        }
        let first_line = next_line;
        next_line += block.iter().filter(|&&b| b == b'\n').count() as u64;
        // Parse this block while the previous one is inserted.
        let previous = pending.take();
        let (parsed, inserted) = rayon::join(
            || parse_block(&block, first_line),
            || match previous {
                Some(p) => insert_block(set, p, &mut summary, on_invalid),
                None => Ok(()),
            },
        );
        inserted?;
        pending = Some(parsed);
    }
    if let Some(p) = pending {
        insert_block(set, p, &mut summary, on_invalid)?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"id":"1","account":"a","channel":"messenger","conversation":"c","from":"customer","at":1}"#;

    fn read(input: &str, on_invalid: OnInvalid) -> Result<(EventSet, ReadSummary), ReadError> {
        let mut set = EventSet::new();
        let s = read_into(input.as_bytes(), &mut set, on_invalid, |_| {})?;
        Ok((set, s))
    }

    #[test]
    fn blank_lines_are_skipped_but_counted_for_line_numbers() {
        let input = format!("{A}\n\n  \n{}\n", A.replace("customer", "admin"));
        let err = read(&input, OnInvalid::Fail).unwrap_err();
        assert!(
            err.to_string().starts_with("line 4: field \"from\""),
            "{err}"
        );
    }

    #[test]
    fn duplicates_and_conflicts_are_reported_by_line() {
        let input = format!("{A}\n{A}\n{}", A.replace("\"at\":1", "\"at\":2"));
        let (set, s) = read(&input, OnInvalid::Fail).unwrap();
        assert_eq!(
            (set.len(), s.duplicates, s.conflicts.clone()),
            (1, 1, vec![3])
        );
    }

    #[test]
    fn skip_invalid_keeps_the_good_lines() {
        let input = format!("{A}\nnot json\n{}\n", A.replace("\"1\"", "\"2\""));
        let (set, s) = read(&input, OnInvalid::Skip).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(s.rejected[0].location, Location::Line(2));
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let (set, _) = read(&format!("{A}\r\n"), OnInvalid::Fail).unwrap();
        assert_eq!(set.len(), 1);
    }
}
