//! The event store against real databases: a SQLite file in a temp dir and
//! the PostgreSQL server on this machine (each test makes and drops its own
//! database). Both backends run the same checks.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{differences, golden_cases};
use replywatch::domain::{
    AnalyzeOptions, CalendarBook, MessageEvent, analyze, parse_duration, parse_rfc3339,
};
use replywatch::store::scratch::{Backend, ScratchDb};
use replywatch::store::{InsertOutcome, Store};

const ADMIN_URL: &str = "postgres://root@127.0.0.1:5432/test";

/// Fresh databases of each backend (`store::scratch`, as the benchmarks
/// and the API tests use); dropped by `drop_all`.
struct TestDbs {
    made: Vec<ScratchDb>,
}

impl TestDbs {
    fn new() -> Self {
        TestDbs { made: Vec::new() }
    }

    async fn open(&mut self, backend: Backend, name: &str) -> Store {
        let db = ScratchDb::create(backend, &format!("store_{name}"), ADMIN_URL)
            .await
            .expect("PostgreSQL must run at 127.0.0.1:5432 (scripts/test starts it)");
        let store = db.open().await.unwrap();
        self.made.push(db);
        store
    }

    async fn both(&mut self, name: &str) -> Vec<(&'static str, Store)> {
        vec![
            ("sqlite", self.open(Backend::Sqlite, name).await),
            ("postgres", self.open(Backend::Postgres, name).await),
        ]
    }

    async fn drop_all(self) {
        for db in self.made {
            db.remove().await.unwrap();
        }
    }
}

fn events_of(ndjson: &str) -> Vec<MessageEvent> {
    ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| MessageEvent::from_json(l.as_bytes()).unwrap())
        .collect()
}

const BATCH: &str = r#"
{"id":"m1","account":"acme","channel":"messenger","conversation":"c1","from":"customer","at":"2026-11-01T09:00:00Z"}
{"id":"m2","account":"acme","channel":"messenger","conversation":"c1","from":"agent","at":"2026-11-01T09:07:00.123456Z","agent":"ayse"}
{"id":"m1","account":"acme","channel":"whatsapp","conversation":"c9","from":"customer","at":1793523660000}
"#;

#[tokio::test]
async fn resending_a_batch_changes_nothing_and_conflicts_keep_the_first_version() {
    let mut dbs = TestDbs::new();
    for (backend, store) in dbs.both("idem").await {
        let batch = events_of(BATCH);
        let first = store.insert_events(&batch).await.unwrap();
        assert_eq!(
            first,
            InsertOutcome {
                accepted: 3,
                duplicates: 0,
                conflicts: 0
            },
            "{backend}"
        );
        let again = store.insert_events(&batch).await.unwrap();
        assert_eq!(
            again,
            InsertOutcome {
                accepted: 0,
                duplicates: 3,
                conflicts: 0
            },
            "{backend}"
        );

        let mut changed = batch[0].clone();
        changed.at = parse_rfc3339("2026-11-01T08:00:00Z").unwrap();
        let outcome = store
            .insert_events(&[changed, batch[1].clone()])
            .await
            .unwrap();
        assert_eq!(
            outcome,
            InsertOutcome {
                accepted: 0,
                duplicates: 1,
                conflicts: 1
            },
            "{backend}"
        );

        let set = store.load_events().await.unwrap();
        assert_eq!(set.len(), 3, "{backend}");
        let mut stored: Vec<MessageEvent> = (0..set.len()).map(|i| set.event(i)).collect();
        stored.sort_by(|a, b| {
            (a.channel.as_str(), a.id.as_str()).cmp(&(b.channel.as_str(), b.id.as_str()))
        });
        assert_eq!(
            stored[0], batch[0],
            "{backend}: the first version is kept, to the microsecond"
        );
        assert_eq!(stored[1], batch[1], "{backend}");
        store.close().await;
    }
    dbs.drop_all().await;
}

#[tokio::test]
async fn duplicates_inside_one_batch_count_once() {
    let mut dbs = TestDbs::new();
    for (backend, store) in dbs.both("inbatch").await {
        let mut batch = events_of(BATCH);
        batch.push(batch[0].clone());
        let mut conflicting = batch[1].clone();
        conflicting.agent = None;
        batch.push(conflicting);
        let outcome = store.insert_events(&batch).await.unwrap();
        assert_eq!(
            outcome,
            InsertOutcome {
                accepted: 3,
                duplicates: 1,
                conflicts: 1
            },
            "{backend}"
        );
        assert_eq!(store.count_events().await.unwrap(), 3, "{backend}");
        store.close().await;
    }
    dbs.drop_all().await;
}

#[tokio::test]
async fn migrations_apply_once() {
    let mut dbs = TestDbs::new();
    for (backend, store) in dbs.both("migrate").await {
        assert!(
            store.migrate().await.unwrap().is_empty(),
            "{backend}: already applied"
        );
        store.close().await;
    }
    dbs.drop_all().await;
}

#[tokio::test]
async fn every_golden_case_through_the_store_equals_the_expected_figures() {
    let mut dbs = TestDbs::new();
    let mut failures = Vec::new();
    for case in golden_cases() {
        let text = std::fs::read_to_string(case.dir.join("events.ndjson")).unwrap();
        let events = events_of(&text);
        let arg = |flag: &str| {
            case.args
                .iter()
                .position(|a| a == flag)
                .map(|i| case.args[i + 1].clone())
        };
        let mut opts = AnalyzeOptions::new(
            parse_rfc3339(&arg("--as-of").unwrap()).unwrap(),
            parse_duration(&arg("--window").unwrap()).unwrap(),
        );
        opts.by_agent = case.args.iter().any(|a| a == "--by-agent");
        opts.bots_count_as_replies = case.args.iter().any(|a| a == "--bots-count-as-replies");
        if let Some(cal) = arg("--calendar") {
            opts.calendars =
                CalendarBook::from_json(&std::fs::read_to_string(case.dir.join(cal)).unwrap())
                    .unwrap();
        }
        let name = case.name.replace('-', "_");
        for (backend, store) in dbs.both(&name).await {
            // Stored in two batches, the second re-sending part of the first.
            let half = events.len() / 2;
            store.insert_events(&events[..half + 1]).await.unwrap();
            store.insert_events(&events[half..]).await.unwrap();
            let report = analyze(&store.load_events().await.unwrap(), &opts);
            for d in differences(&serde_json::to_value(&report).unwrap(), &case.expected) {
                failures.push(format!("{} ({backend}): {d}", case.name));
            }
            store.close().await;
        }
    }
    dbs.drop_all().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn an_unknown_database_url_is_refused_with_a_reason() {
    let err = Store::connect("mysql://localhost/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected sqlite://PATH or postgres://"),
        "{err}"
    );
}

#[tokio::test]
async fn loading_some_accounts_gives_exactly_their_stored_events() {
    let mut dbs = TestDbs::new();
    let lines: String = ["a", "b", "c"]
        .iter()
        .flat_map(|account| {
            (0..3).map(move |i| {
                format!(
                    r#"{{"id":"m{i}","account":"{account}","channel":"whatsapp","conversation":"c{i}","from":"customer","at":"2026-11-01T10:0{i}:00Z"}}"#
                )
            })
        })
        .collect::<Vec<_>>()
        .join("\n");
    for (backend, store) in dbs.both("some_accounts").await {
        store.insert_events(&events_of(&lines)).await.unwrap();
        let some = store.load_events_where(|a| a != "b").await.unwrap();
        let accounts: std::collections::BTreeSet<String> = (0..some.len())
            .map(|i| some.event(i).account.to_string())
            .collect();
        assert_eq!(some.len(), 6, "{backend}");
        assert_eq!(
            accounts,
            ["a".to_string(), "c".to_string()].into(),
            "{backend}"
        );
        assert_eq!(
            store.load_events_where(|_| false).await.unwrap().len(),
            0,
            "{backend}"
        );
        let one = store.load_account_events(Some("b")).await.unwrap();
        assert_eq!(one.len(), 3, "{backend}");
        assert_eq!(
            store.load_account_events(None).await.unwrap().len(),
            9,
            "{backend}"
        );
        store.close().await;
    }
    dbs.drop_all().await;
}

/// Issue 15: whatever got a 202 is stored, in every mode. Every event the
/// boundary accepts — any non-control text up to 256 bytes, instants from
/// 1970 to 9999 with microseconds, with or without agent — comes back
/// unchanged through each encoding it passes: the cluster's NATS messages,
/// SQLite rows (and the loader's JSON pages), PostgreSQL rows.
#[test]
fn every_accepted_event_round_trips_through_every_encoding() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use replywatch::domain::MessageEvent;
    let text = "[^\\x00-\\x1f\\x7f]{1,80}";
    let strategy = (proptest::collection::vec(
        (
            text,
            text,
            "[a-z0-9_-]{1,32}",
            text,
            0usize..4,
            0i64..=253_402_300_799_999_999,
            proptest::option::of(text),
        ),
        1..40,
    ),);
    let mut runner = TestRunner::new(Config::with_cases(24));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut dbs = TestDbs::new();
    let stores = rt.block_on(dbs.both("roundtrip"));
    runner
        .run(&strategy, |(raw,)| {
            let mut events = Vec::new();
            for (id, account, channel, conversation, from, at, agent) in raw {
                if channel == "all" || id.len() > 256 || account.len() > 256 {
                    continue;
                }
                let sender = ["customer", "agent", "bot", "auto"][from];
                let mut json = serde_json::json!({
                    "id": id, "account": account, "channel": channel, "conversation": conversation,
                    "from": sender,
                    "at": replywatch::domain::Timestamp::from_unix_micros(at).to_string(),
                });
                if let Some(a) = agent {
                    json["agent"] = a.into();
                }
                let e = MessageEvent::from_json(json.to_string().as_bytes())
                    .map_err(|e| TestCaseError::fail(format!("{json}: {e:?}")))?;
                prop_assert_eq!(e.at.unix_micros(), at);
                events.push(e);
            }
            // First version of a key wins, as everywhere: keep distinct keys.
            let mut seen = std::collections::HashSet::new();
            events.retain(|e| seen.insert((e.account.clone(), e.channel.clone(), e.id.clone())));
            // NATS messages.
            let chunks = replywatch::cluster::log::encode_chunks(&events, 8);
            let mut decoded: Vec<MessageEvent> = chunks
                .iter()
                .flat_map(|c| replywatch::cluster::log::decode(&c.payload).unwrap())
                .collect();
            let key = |e: &MessageEvent| {
                (
                    e.account.to_string(),
                    e.channel.to_string(),
                    e.id.to_string(),
                )
            };
            let mut sorted = events.clone();
            sorted.sort_by_key(key);
            decoded.sort_by_key(key);
            prop_assert_eq!(&decoded, &sorted);
            // Database rows (SQLite through the loader's JSON pages).
            for (name, store) in &stores {
                rt.block_on(async {
                    store.execute_admin("DELETE FROM events").await.unwrap();
                    store.insert_events(&events).await.unwrap();
                });
                let set = rt.block_on(store.load_events()).unwrap();
                let mut loaded: Vec<MessageEvent> = (0..set.len()).map(|i| set.event(i)).collect();
                loaded.sort_by_key(key);
                prop_assert_eq!(&loaded, &sorted, "{}", name);
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        for (_, s) in stores {
            s.close().await;
        }
        dbs.drop_all().await;
    });
}

/// Issue 17, fencing: a partition's owner commits with the epoch it
/// claimed; once another node has claimed the partition, that commit is
/// refused in its own transaction and stores nothing, on both the fast
/// path and the classifying one, while the new owner's commits go through.
#[tokio::test]
async fn a_commit_with_a_stale_partition_epoch_is_refused_and_stores_nothing() {
    use replywatch::store::{Fence, fenced};
    let mut dbs = TestDbs::new();
    let store = dbs.open(Backend::Postgres, "fencing").await;
    let events = events_of(BATCH);
    let refs: Vec<&MessageEvent> = events.iter().collect();

    let old = store.claim_partition(3, "node-a").await.unwrap();
    let old_fence = [Fence {
        partition: 3,
        epoch: old,
    }];
    assert!(store.store_new(&refs[..1], &old_fence).await.unwrap());
    let new = store.claim_partition(3, "node-b").await.unwrap();
    assert_eq!(new, old + 1, "each claim raises the epoch");

    let stale = store.store_new(&refs[1..], &old_fence).await.unwrap_err();
    let why = fenced(&stale).expect("refused as fenced");
    assert_eq!((why.partition, why.epoch, why.current), (3, old, new));
    let stale = store
        .insert_batches_fenced(&[&events[1..]], &old_fence)
        .await
        .unwrap_err();
    assert!(fenced(&stale).is_some(), "{stale:#}");
    assert_eq!(
        store.count_events().await.unwrap(),
        1,
        "nothing stored late"
    );

    let new_fence = [Fence {
        partition: 3,
        epoch: new,
    }];
    let outcome = store
        .insert_batches_fenced(&[&events], &new_fence)
        .await
        .unwrap();
    assert_eq!((outcome[0].accepted, outcome[0].duplicates), (2, 1));
    assert_eq!(
        store.partition_epochs().await.unwrap(),
        vec![(3, new, "node-b".to_string())]
    );
    store.close().await;
    dbs.drop_all().await;
}

/// Issue 17, scheduled reports once per cluster: the first node to claim a
/// due run runs it; the others see it running, then done; a claim left
/// undone past the stale age (its node died mid-run) is taken again.
#[tokio::test]
async fn a_due_report_run_is_claimed_by_one_node_and_retaken_only_when_stale() {
    use replywatch::store::RunClaim;
    use std::time::Duration;
    let mut dbs = TestDbs::new();
    for (backend, store) in dbs.both("report_runs").await {
        let (day, minute) = (Duration::from_secs(86_400), Duration::from_secs(60));
        let claim = |node: &'static str, stale| {
            let store = store.clone();
            async move {
                store
                    .claim_report_run("daily@08:00", 1_000, node, stale)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(claim("a", day).await, RunClaim::Mine, "{backend}");
        assert_eq!(
            claim("b", day).await,
            RunClaim::Running { node: "a".into() },
            "{backend}"
        );
        // a died mid-run: after the stale age b takes it over.
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            claim("b", Duration::from_millis(1)).await,
            RunClaim::Mine,
            "{backend}"
        );
        store.finish_report_run("daily@08:00", 1_000).await.unwrap();
        assert_eq!(
            claim("a", Duration::ZERO).await,
            RunClaim::Done,
            "{backend}"
        );
        assert_eq!(claim("c", minute).await, RunClaim::Done, "{backend}");
        // Another due time of the same schedule is a run of its own.
        assert_eq!(
            store
                .claim_report_run("daily@08:00", 2_000, "c", minute)
                .await
                .unwrap(),
            RunClaim::Mine
        );
        store.close().await;
    }
    dbs.drop_all().await;
}
