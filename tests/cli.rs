//! The built binary, run as a user would: every golden case, bad input,
//! conflicts, stdin, CSV and `generate`.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{differences, golden_cases};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn replywatch(args: &[&str], dir: &std::path::Path, stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_replywatch"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

const AS_OF: [&str; 4] = ["--as-of", "2026-11-02T00:00:00Z", "--window", "7d"];

fn tmp_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("replywatch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

const GOOD: &str = r#"{"id":"m1","account":"acme","channel":"messenger","conversation":"c1","from":"customer","at":"2026-11-01T09:00:00Z"}"#;

#[test]
fn the_binary_reproduces_every_golden_case() {
    for case in golden_cases() {
        let mut args = vec!["analyze", "--input", "events.ndjson"];
        args.extend(case.args.iter().map(String::as_str));
        let out = replywatch(&args, &case.dir, None);
        assert!(
            out.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let actual: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let d = differences(&actual, &case.expected);
        assert!(d.is_empty(), "{}: {d:?}", case.name);
    }
}

#[test]
fn a_bad_line_names_line_and_field_and_prints_no_figures() {
    let bad = GOOD
        .replace("\"customer\"", "\"admin\"")
        .replace("m1", "m2");
    let file = tmp_file("bad.ndjson", &format!("{GOOD}\n{GOOD}\n{bad}\n"));
    let out = replywatch(
        &["analyze", "--input", file.to_str().unwrap()],
        std::path::Path::new("."),
        None,
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"line 3: field "from": expected customer|agent|bot|auto, got "admin""#),
        "{err}"
    );
}

#[test]
fn a_conflicting_duplicate_is_reported_and_the_earliest_line_kept() {
    let reply = GOOD
        .replace("m1", "m9")
        .replace("customer", "agent")
        .replace("09:00", "09:07");
    let conflict = GOOD.replace("09:00", "08:00");
    let input = format!("{GOOD}\n{reply}\n{conflict}\n");
    let mut args = vec!["analyze", "--input", "-"];
    args.extend(AS_OF);
    let out = replywatch(&args, std::path::Path::new("."), Some(input.as_bytes()));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["groups"][0]["median_first_reply_seconds"], 420.0,
        "the 09:00 version is kept"
    );
}

#[test]
fn csv_has_the_json_columns_with_empty_nulls() {
    let mut args = vec!["analyze", "--input", "-", "--format", "csv"];
    args.extend(AS_OF);
    let out = replywatch(&args, std::path::Path::new("."), Some(GOOD.as_bytes()));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        replywatch::domain::document::CSV_COLUMNS.join(",")
    );
    assert_eq!(
        lines[1],
        "acme,messenger,1,0,1,,0.0,,,,54000.0,1,,,false,response_rate undefined;response_time undefined"
    );
    assert_eq!(lines.len(), 3, "the group and its 'all' row");
}

#[test]
fn by_agent_csv_has_one_row_per_group_and_agent() {
    let case = golden_cases()
        .into_iter()
        .find(|c| c.name == "14-per-agent")
        .unwrap();
    let mut args = vec!["analyze", "--input", "events.ndjson", "--format", "csv"];
    args.extend(case.args.iter().map(String::as_str));
    let out = replywatch(&args, &case.dir, None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("account,channel,agent,answered,"));
    assert!(
        text.contains("\nacme,all,,1,1800.0,1800.0,1.0,1.0\n"),
        "{text}"
    );
}

#[test]
fn a_bad_window_or_instant_is_explained() {
    for (flag, value, words) in [
        ("--window", "7x", "unknown unit"),
        ("--as-of", "yesterday", "RFC 3339"),
    ] {
        let out = replywatch(
            &["analyze", "--input", "-", flag, value],
            std::path::Path::new("."),
            Some(b""),
        );
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(words),
            "{flag}"
        );
    }
}

#[test]
fn generated_events_analyze_the_same_from_stdin_and_any_thread_count() {
    let generated = replywatch(
        &["generate", "--events", "20000", "--seed", "3"],
        std::path::Path::new("."),
        None,
    );
    assert!(generated.status.success());
    let mut runs = Vec::new();
    for threads in ["1", "2", "3"] {
        let mut args = vec!["analyze", "--input", "-", "--threads", threads];
        args.extend(["--as-of", "2026-11-01T00:00:00Z", "--window", "30d"]);
        let out = replywatch(&args, std::path::Path::new("."), Some(&generated.stdout));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        runs.push(out.stdout);
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
    let v: serde_json::Value = serde_json::from_slice(&runs[0]).unwrap();
    assert!(v["groups"].as_array().unwrap().len() >= 4);
}

#[test]
fn ingest_is_idempotent_and_sets_bad_lines_aside_with_skip_invalid() {
    let bad = GOOD.replace("m1", "m2").replace("messenger", "BAD");
    let file = tmp_file("ingest.ndjson", &format!("{GOOD}\n{bad}\n"));
    let db = file.with_extension("db");
    let rejects = file.with_extension("rejects");
    let url = format!("sqlite://{}", db.display());
    let (f, r) = (file.to_str().unwrap(), rejects.to_str().unwrap());
    let here = std::path::Path::new(".");

    let strict = replywatch(&["ingest", "--database-url", &url, f], here, None);
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(
        err.contains("line 2: field \"channel\"") && err.contains("nothing of it was stored"),
        "{err}"
    );

    for expected in ["1 stored, 0 duplicates", "0 stored, 1 duplicates"] {
        let out = replywatch(
            &[
                "ingest",
                "--database-url",
                &url,
                "--skip-invalid",
                "--rejects",
                r,
                f,
            ],
            here,
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(expected),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(
        std::fs::read_to_string(&rejects)
            .unwrap()
            .contains("line 2: field \"channel\"")
    );
}

/// Every golden case written by `write` into `{case}.{extension}` and run
/// through `analyze --input` must give the expected figures.
#[cfg(feature = "reports")]
fn golden_cases_through(extension: &str, write: impl Fn(&[serde_json::Value], &std::path::Path)) {
    let dir = std::env::temp_dir().join(format!("replywatch-{extension}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for case in common::golden_cases() {
        let text = std::fs::read_to_string(case.dir.join("events.ndjson")).unwrap();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let path = dir.join(format!("{}.{extension}", case.name));
        write(&rows, &path);
        let mut args: Vec<String> = vec![
            "analyze".into(),
            "--input".into(),
            path.display().to_string(),
        ];
        for a in &case.args {
            // Calendar files are relative to the case's directory.
            args.push(match a.ends_with(".json") {
                true => case.dir.join(a).display().to_string(),
                false => a.clone(),
            });
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_replywatch"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for d in common::differences(&got, &case.expected) {
            failures.push(format!("{}: {d}", case.name));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// SPEC §1's columns, in this order.
#[cfg(feature = "reports")]
const COLUMNS: [&str; 7] = [
    "id",
    "account",
    "channel",
    "conversation",
    "from",
    "at",
    "agent",
];

/// SPEC §1's columns as CSV (read with polars) give the same figures as NDJSON.
#[cfg(feature = "reports")]
#[test]
fn a_csv_event_file_gives_the_same_figures_as_ndjson() {
    golden_cases_through("csv", |rows, path| {
        let mut csv = COLUMNS.join(",") + "\n";
        for v in rows {
            let field = |k: &str| match &v[k] {
                serde_json::Value::String(s) => format!("\"{}\"", s.replace('"', "\"\"")),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            csv += &(COLUMNS.map(field).join(",") + "\n");
        }
        std::fs::write(path, csv).unwrap();
    });
}

/// …and so does Parquet, written here with polars.
#[cfg(feature = "reports")]
#[test]
fn a_parquet_event_file_gives_the_same_figures_as_ndjson() {
    use polars::prelude::{Column, DataFrame, ParquetWriter};
    golden_cases_through("parquet", |rows, path| {
        let text_of = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        };
        let columns: Vec<Column> = COLUMNS
            .iter()
            .map(|k| {
                Column::new(
                    (*k).into(),
                    rows.iter()
                        .map(|r| text_of(&r[*k]))
                        .collect::<Vec<Option<String>>>(),
                )
            })
            .collect();
        let mut frame = DataFrame::new_infer_height(columns).unwrap();
        ParquetWriter::new(std::fs::File::create(path).unwrap())
            .finish(&mut frame)
            .unwrap();
    });
}
