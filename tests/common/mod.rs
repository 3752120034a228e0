//! Helpers shared by the test binaries: the golden cases of
//! `../shared/golden` and a tolerant comparison of §4 documents.
#![allow(clippy::unwrap_used, dead_code)] // tests fail loudly by design

use serde_json::Value;
use std::path::{Path, PathBuf};

/// `../shared/golden`, relative to the repository, or `$REPLYWATCH_SHARED_DIR/golden`.
pub fn golden_dir() -> PathBuf {
    match std::env::var_os("REPLYWATCH_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir).join("golden"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"),
    }
}

/// One golden case: its directory, name and `args` split into words.
pub struct GoldenCase {
    pub name: String,
    pub dir: PathBuf,
    pub args: Vec<String>,
    pub expected: Value,
}

pub fn golden_cases() -> Vec<GoldenCase> {
    let cases = cases_in(&golden_dir());
    assert!(
        cases.len() >= 17,
        "expected the 17 golden cases, found {}",
        cases.len()
    );
    cases
}

/// `../shared/golden-next`: cases of rules built since the golden set was
/// last published (they join it upstream; until then they are read here).
pub fn golden_next_cases() -> Vec<GoldenCase> {
    cases_in(&golden_dir().with_file_name("golden-next"))
}

fn cases_in(dir: &Path) -> Vec<GoldenCase> {
    let mut cases: Vec<GoldenCase> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} must exist beside the checkout: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("expected.json").exists())
        .map(|dir| GoldenCase {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            args: std::fs::read_to_string(dir.join("args"))
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect(),
            expected: serde_json::from_str(
                &std::fs::read_to_string(dir.join("expected.json")).unwrap(),
            )
            .unwrap(),
            dir,
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// Differences between `actual` and `expected`, each naming the JSON path:
/// floats within 1e-9 relative (1e-6 absolute), `null` as `null`, and
/// `badge_blockers` compared by emptiness (its wording is ours).
pub fn differences(actual: &Value, expected: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(actual, expected, "$", &mut out);
    out
}

fn diff(a: &Value, e: &Value, path: &str, out: &mut Vec<String>) {
    match (a, e) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() > f64::max(1e-6, 1e-9 * y.abs()) {
                out.push(format!("{path}: got {x}, expected {y}"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{path}.{k}: missing"));
            }
            for k in x.keys().filter(|k| !y.contains_key(*k)) {
                out.push(format!("{path}.{k}: unexpected field"));
            }
            for (k, ev) in y {
                let Some(av) = x.get(k) else { continue };
                if k == "badge_blockers" {
                    let (ae, ee) = (
                        av.as_array().map(Vec::is_empty),
                        ev.as_array().map(Vec::is_empty),
                    );
                    if ae != ee {
                        out.push(format!("{path}.{k}: got {av}, expected {ev}"));
                    }
                    continue;
                }
                diff(av, ev, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: {} items, expected {}", x.len(), y.len()));
            }
            for (i, (av, ev)) in x.iter().zip(y).enumerate() {
                let label = av
                    .get("account")
                    .and_then(|acc| {
                        Some(format!(
                            "[{i}]({}/{})",
                            acc.as_str()?,
                            av.get("channel")?.as_str()?
                        ))
                    })
                    .unwrap_or_else(|| format!("[{i}]"));
                diff(av, ev, &format!("{path}{label}"), out);
            }
        }
        _ if a != e => out.push(format!("{path}: got {a}, expected {e}")),
        _ => {}
    }
}

/// `events` in a random order (seeded) that keeps, for each (account,
/// channel, id), its versions in their original order: arrival order may
/// change anything but which conflicting version came first.
pub fn shuffle_keeping_key_order(
    events: Vec<replywatch::domain::MessageEvent>,
    seed: u64,
) -> Vec<replywatch::domain::MessageEvent> {
    use std::collections::HashMap;
    let mut rng = replywatch::files::generate::Rng::new(seed);
    let mut order: Vec<usize> = (0..events.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    // Positions each key lands on, then its versions in original order.
    let key = |e: &replywatch::domain::MessageEvent| {
        (
            e.account.to_string(),
            e.channel.to_string(),
            e.id.to_string(),
        )
    };
    let mut positions: HashMap<_, Vec<usize>> = HashMap::new();
    for (pos, &i) in order.iter().enumerate() {
        positions.entry(key(&events[i])).or_default().push(pos);
    }
    let mut out: Vec<Option<replywatch::domain::MessageEvent>> = vec![None; events.len()];
    let mut next: HashMap<_, usize> = HashMap::new();
    for e in events {
        let k = key(&e);
        let n = next.entry(k.clone()).or_default();
        out[positions[&k][*n]] = Some(e);
        *n += 1;
    }
    out.into_iter().map(|e| e.unwrap()).collect()
}
