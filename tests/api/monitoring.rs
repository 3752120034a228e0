//! The monitoring stack of `dashboards/` and `docker-compose.yml`: the
//! rules pass promtool's checks and unit tests; every dashboard query names
//! only metrics replywatch exports and runs in a real Prometheus; a real
//! Prometheus with the rules fires the pending alert for a running
//! replywatch; the compose file mounts files that exist and wires the right
//! host names and ports.

use crate::helpers::{Backend, Prometheus, TestApp, encode};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo().join("dashboards/prometheus"))
        .output()
        .expect("promtool must be installed: apt-get install prometheus (.ci/run does it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn the_rules_pass_promtool_check_and_their_unit_tests() {
    assert!(promtool(&["check", "rules", "alerts.yml"]).contains("SUCCESS"));
    assert!(promtool(&["test", "rules", "alerts_test.yml"]).contains("SUCCESS"));
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo().join("dashboards/grafana/replywatch.json")).unwrap(),
    )
    .unwrap()
}

/// Every PromQL expression of the dashboard's panels.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in dashboard()["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap().to_string(),
                t["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// Issue 19, "compared with last period" in Grafana: the headline stats and
/// the trend panels carry the same figure a week earlier (`offset 7d`).
#[test]
fn the_trend_panels_show_the_same_figure_a_week_earlier() {
    let queries = dashboard_queries();
    for (panel, metric) in [
        ("Response rate", "replywatch_response_rate_ratio"),
        (
            "Median first reply",
            "replywatch_first_reply_median_seconds",
        ),
        (
            "First-reply time (24 h window)",
            "replywatch_first_reply_median_seconds",
        ),
        (
            "Hit ratios and response rate (24 h window)",
            "replywatch_response_rate_ratio",
        ),
    ] {
        let exprs: Vec<&str> = queries
            .iter()
            .filter(|(p, _)| p == panel)
            .map(|(_, e)| e.as_str())
            .collect();
        let now = exprs
            .iter()
            .find(|e| e.starts_with(metric) && !e.contains("offset"))
            .unwrap_or_else(|| panic!("{panel}: no {metric} series"));
        assert!(
            exprs.contains(&format!("{now} offset 7d").as_str()),
            "{panel}: no '{now} offset 7d' beside it: {exprs:?}"
        );
    }
}

fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("replywatch_") {
        let start = i + at;
        let before_ok = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expr.len(), |e| start + e);
        if before_ok {
            names.insert(expr[start..end].to_string());
        }
        i = end;
    }
    names
}

/// Names in a real exposition (histograms with their _bucket/_sum/_count).
fn exported_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect()
}

async fn populated_app() -> TestApp {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let now = chrono::Utc::now();
    let at = |s: i64| (now - chrono::Duration::seconds(s)).to_rfc3339();
    let lines = [
        format!(
            r#"{{"id":"1","account":"acme","channel":"messenger","conversation":"c1","from":"customer","at":"{}"}}"#,
            at(7200)
        ),
        format!(
            r#"{{"id":"2","account":"acme","channel":"messenger","conversation":"c1","from":"agent","at":"{}"}}"#,
            at(7000)
        ),
        format!(
            r#"{{"id":"3","account":"acme","channel":"messenger","conversation":"c2","from":"customer","at":"{}"}}"#,
            at(30)
        ),
        // Waiting 21 h: the messaging window closes soon, and (decided for
        // 24 h? not yet) — and one waiting 25 h: a decided miss for the badge.
        format!(
            r#"{{"id":"4","account":"acme","channel":"messenger","conversation":"c3","from":"customer","at":"{}"}}"#,
            at(21 * 3600)
        ),
        format!(
            r#"{{"id":"5","account":"acme","channel":"messenger","conversation":"c4","from":"customer","at":"{}"}}"#,
            at(25 * 3600)
        ),
    ];
    assert_eq!(app.post_ndjson(lines.join("\n")).await.status, 202);
    // A duplicate and a rejected batch, so that those counters have series too.
    assert_eq!(app.post_ndjson(lines[0].clone()).await.status, 202);
    assert_eq!(app.post_ndjson("{").await.status, 400);
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_names_only_exported_metrics() {
    let app = populated_app().await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // a refresh with the data
    let exposition = app.scrape().await;
    let exported = exported_names(&exposition);
    let queries = dashboard_queries();
    assert!(queries.len() >= 15, "the dashboard has its panels");
    for (title, expr) in &queries {
        let names = metric_names(expr);
        assert!(
            !names.is_empty(),
            "{title}: {expr} uses no replywatch metric"
        );
        for n in names {
            assert!(
                exported.contains(&n),
                "{title}: {n} is not exported by /metrics"
            );
        }
    }
    let vars: Vec<_> = dashboard()["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(vars, ["account", "channel"]);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_with_the_rules_fires_the_pending_alert_and_runs_every_dashboard_query() {
    let app = populated_app().await;
    // The shipped rules with a test-sized threshold (5 s) and no `for` delay.
    let rules = std::fs::read_to_string(repo().join("dashboards/prometheus/alerts.yml")).unwrap();
    // The shipped rules without their `for` delays.
    let test_rules: String = rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 0s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(rules.trim_end(), test_rules, "the rules have `for` delays");
    let prometheus = Prometheus::start(app.addr, Some(&test_rules));
    let client = replywatch::tls::client();
    // The alerts this state must fire, each for acme.
    let wanted = [
        "ReplywatchRequestPendingTooLong",
        "ReplywatchMessagingWindowClosing",
        "ReplywatchBadgeAtRisk",
    ];
    let mut fired: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for _ in 0..160 {
        if let Some(alerts) = prometheus.get(&client, "/api/v1/alerts").await {
            for a in alerts["data"]["alerts"].as_array().into_iter().flatten() {
                if a["state"] == "firing" {
                    let name = a["labels"]["alertname"].as_str().unwrap_or("").to_string();
                    fired.entry(name).or_insert_with(|| a.clone());
                }
            }
            if wanted.iter().all(|w| fired.contains_key(*w)) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A reply once Prometheus has scraped: the histogram and the ingestion
    // counters then increase between two of its samples.
    let reply = format!(
        r#"{{"id":"6","account":"acme","channel":"messenger","conversation":"c2","from":"agent","at":"{}"}}"#,
        chrono::Utc::now().to_rfc3339()
    );
    assert_eq!(app.post_ndjson(reply).await.status, 202);
    tokio::time::sleep(Duration::from_millis(3000)).await;
    // Every dashboard query is valid PromQL for this Prometheus and
    // returns series.
    let mut bad = Vec::new();
    for (title, expr) in dashboard_queries() {
        let q = expr
            .replace("$account", ".*")
            .replace("$channel", ".*")
            .replace("$__range", "1h");
        // A week-earlier series (`offset 7d`) is asked a week ahead, so that
        // it reads what this Prometheus has scraped now.
        let at = match q.contains("offset 7d") {
            true => format!("&time={}", chrono::Utc::now().timestamp() + 7 * 86_400),
            false => String::new(),
        };
        match prometheus
            .get(&client, &format!("/api/v1/query?query={}{at}", encode(&q)))
            .await
        {
            Some(v)
                if v["status"] == "success"
                    && v["data"]["result"]
                        .as_array()
                        .is_some_and(|r| !r.is_empty()) => {}
            other => bad.push(format!("{title}: {q}: {other:?}")),
        }
    }
    drop(prometheus);
    for w in wanted {
        let a = fired
            .get(w)
            .unwrap_or_else(|| panic!("{w} never fired; fired: {:?}", fired.keys()));
        assert_eq!(a["labels"]["account"], "acme", "{w}");
    }
    assert_eq!(
        fired["ReplywatchRequestPendingTooLong"]["labels"]["channel"],
        "messenger"
    );
    // (ScrapeDown fires before the first scrape once its `for` is gone.)
    assert!(
        !fired.contains_key("ReplywatchIngestionStalled")
            && !fired.contains_key("ReplywatchBadgeLost"),
        "{:?}",
        fired.keys()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    app.finish().await;
}

/// Every metric and label the alert rules select on is in a real scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_rules_select_only_exported_metrics_and_labels() {
    let app = populated_app().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let exposition = app.scrape().await;
    let mut labels_of: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, rest)) = line.split_once('{') else {
            continue;
        };
        let set = labels_of.entry(name.to_string()).or_default();
        for pair in rest.split(',') {
            if let Some((k, _)) = pair.split_once('=') {
                set.insert(k.trim().to_string());
            }
        }
    }
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("dashboards/prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            for name in metric_names(expr) {
                let exported = labels_of
                    .get(&name)
                    .unwrap_or_else(|| panic!("{expr}: {name} is not exported"));
                // The labels its selector names.
                let after = &expr[expr.find(&name).unwrap() + name.len()..];
                if let Some(selector) = after.strip_prefix('{') {
                    let selector = &selector[..selector.find('}').unwrap()];
                    for m in selector.split(',') {
                        let key = m.split(['=', '!', '~']).next().unwrap().trim().to_string();
                        assert!(exported.contains(&key), "{expr}: {name} has no label {key}");
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "{checked}");
    app.finish().await;
}

#[test]
fn the_compose_stack_mounts_existing_files_and_wires_hosts_and_ports() {
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap())
            .unwrap();
    let services = &compose["services"];
    for name in [
        "replywatch",
        "postgres",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(services[name].is_mapping(), "service {name} is missing");
    }
    // Every bind mount's host path exists in the repository.
    for (name, service) in services.as_mapping().unwrap() {
        for v in service["volumes"].as_sequence().into_iter().flatten() {
            let host = v.as_str().unwrap().split(':').next().unwrap();
            if host.starts_with("./") {
                assert!(
                    repo().join(host).exists(),
                    "{name:?} mounts {host}, which does not exist"
                );
            }
        }
    }
    assert!(
        repo()
            .join(services["replywatch"]["build"].as_str().unwrap())
            .join("Dockerfile")
            .exists()
    );
    // replywatch → postgres, on the credentials postgres is given.
    let env = &services["replywatch"]["environment"];
    let pg = &services["postgres"]["environment"];
    let expected_url = format!(
        "postgres://{}:{}@postgres:5432/{}",
        pg["POSTGRES_USER"].as_str().unwrap(),
        pg["POSTGRES_PASSWORD"].as_str().unwrap(),
        pg["POSTGRES_DB"].as_str().unwrap()
    );
    assert_eq!(
        env["REPLYWATCH_DATABASE_URL"].as_str().unwrap(),
        expected_url
    );
    let listen_port = env["REPLYWATCH_LISTEN"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert!(
        services["replywatch"]["ports"][0]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{listen_port}"))
    );
    // Prometheus → replywatch and Alertmanager; its rule file is the mounted one.
    let prom: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("dashboards/prometheus/prometheus.yml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        prom["scrape_configs"][0]["static_configs"][0]["targets"][0]
            .as_str()
            .unwrap(),
        format!("replywatch:{listen_port}")
    );
    assert_eq!(
        prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
            .as_str()
            .unwrap(),
        "alertmanager:9093"
    );
    let mounts: Vec<&str> = services["prometheus"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let rule_file = prom["rule_files"][0].as_str().unwrap();
    assert!(
        mounts.iter().any(|m| m.contains(&format!(":{rule_file}"))),
        "{rule_file} is not mounted"
    );
    // Grafana → Prometheus; the provider's path is where the dashboards are mounted.
    let ds: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            repo().join("dashboards/grafana/provisioning/datasources/prometheus.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        ds["datasources"][0]["url"].as_str().unwrap(),
        "http://prometheus:9090"
    );
    assert_eq!(
        ds["datasources"][0]["uid"].as_str().unwrap(),
        dashboard()["panels"][1]["datasource"]["uid"]
            .as_str()
            .unwrap()
    );
    let provider: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            repo().join("dashboards/grafana/provisioning/dashboards/replywatch.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let grafana_mounts: Vec<&str> = services["grafana"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(grafana_mounts.iter().any(|m| {
        m.split(':').nth(1) == Some(path)
            && Path::new(&repo())
                .join(m.split(':').next().unwrap())
                .join("replywatch.json")
                .exists()
    }));
}

#[test]
fn the_compose_cluster_profile_wires_nats_three_nodes_their_database_and_prometheus() {
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap())
            .unwrap();
    let services = &compose["services"];
    let node = &services["replywatch-node"];
    assert_eq!(node["profiles"][0].as_str(), Some("cluster"));
    assert_eq!(node["deploy"]["replicas"].as_u64(), Some(3));
    // Three NATS servers with JetStream, each routed to all three, with
    // names and a volume of its own: no single NATS server to lose.
    let names = ["nats-1", "nats-2", "nats-3"];
    let mut volumes = std::collections::BTreeSet::new();
    for name in names {
        let nats = &services[name];
        assert_eq!(nats["profiles"][0].as_str(), Some("cluster"), "{name}");
        let command: Vec<&str> = nats["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let after = |flag: &str| {
            command
                .iter()
                .position(|a| *a == flag)
                .map(|i| command[i + 1])
        };
        assert!(command.contains(&"-js"), "{name}: JetStream: {command:?}");
        assert_eq!(after("--server_name"), Some(name));
        assert_eq!(after("--cluster"), Some("nats://0.0.0.0:6222"));
        let routes = after("--routes").unwrap();
        for peer in names {
            assert!(
                routes.contains(&format!("nats://{peer}:6222")),
                "{name}: {routes}"
            );
        }
        volumes.insert(nats["volumes"][0].as_str().unwrap().to_string());
        assert!(
            node["depends_on"][name].is_mapping(),
            "the nodes wait for {name}"
        );
    }
    assert_eq!(volumes.len(), 3, "each NATS server keeps its own store");
    // The nodes reach NATS by its service name on the client port, and share
    // their own database, which the postgres init script creates.
    let env = &node["environment"];
    assert_eq!(
        env["REPLYWATCH_NATS"].as_str(),
        Some("nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222")
    );
    assert_eq!(env["REPLYWATCH_NATS_REPLICAS"].as_str(), Some("3"));
    let url = env["REPLYWATCH_DATABASE_URL"].as_str().unwrap();
    let db = url.rsplit('/').next().unwrap();
    assert_ne!(
        db,
        services["postgres"]["environment"]["POSTGRES_DB"]
            .as_str()
            .unwrap(),
        "the cluster does not share the single node's database"
    );
    let init =
        std::fs::read_to_string(repo().join("dashboards/postgres/create-cluster-db.sql")).unwrap();
    assert!(init.contains(&format!("CREATE DATABASE {db}")), "{init}");
    assert!(
        services["postgres"]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().contains("/docker-entrypoint-initdb.d/")),
        "the init script is mounted"
    );
    // Three replicas, three host ports, and Prometheus finds every replica.
    let ports = node["ports"][0].as_str().unwrap();
    assert!(ports.starts_with("8081-8083:"), "{ports}");
    let prom: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("dashboards/prometheus/prometheus.yml")).unwrap(),
    )
    .unwrap();
    let job = prom["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"].as_str() == Some("replywatch-cluster"))
        .expect("a scrape job for the cluster nodes");
    assert_eq!(
        job["dns_sd_configs"][0]["names"][0].as_str(),
        Some("replywatch-node")
    );
}

/// The shipped objectives' rules and tests are what `replywatch rules`
/// writes from `dashboards/slo.yaml` today (regenerate after a change).
#[test]
fn the_shipped_slo_rules_are_generated_from_the_shipped_objectives() {
    use replywatch::slo::{RULES_FILE, read, rules, rules_test};
    let objectives = read(&repo().join("dashboards/slo.yaml")).unwrap();
    let dir = repo().join("dashboards/prometheus");
    let shipped = std::fs::read_to_string(dir.join(RULES_FILE)).unwrap();
    let tests = std::fs::read_to_string(dir.join("slo-rules_test.yml")).unwrap();
    let hint = "regenerate: replywatch rules --slo dashboards/slo.yaml --out dashboards/prometheus";
    assert_eq!(
        shipped,
        rules::render(&objectives, rules::RuleOptions::default()).unwrap(),
        "{hint}"
    );
    assert_eq!(
        tests,
        rules_test::render(&objectives, RULES_FILE).unwrap(),
        "{hint}"
    );
    assert!(promtool(&["check", "rules", RULES_FILE]).contains("SUCCESS"));
    assert!(promtool(&["test", "rules", "slo-rules_test.yml"]).contains("SUCCESS"));
}

/// Objectives of every shape: the generated tests pass on the generated
/// rules, and fail on rules whose thresholds are off (the tests can see a
/// wrong rule).
#[test]
fn generated_rules_pass_their_generated_tests_for_every_kind_of_objective() {
    use replywatch::slo::{parse, rules, rules_test};
    let objectives = parse(
        r#"
objectives:
  - name: badge
    accounts: "*"
    except: ["test-page", "x.y"]
    channel: all
    within: 15m
    objective: 0.90
    period: 7d
  - name: whatsapp-first-hour
    accounts: ["1000123", "1000124"]
    channel: whatsapp
    within: 1h
    objective: 0.80
    period: 28d
    min_requests: 20
    clock: business
  - name: vip
    accounts: ["vip"]
    channel: all
    within: 5m
    objective: 0.95
    period: 28d
  - name: strict
    accounts: "*"
    channel: messenger
    within: 24h
    objective: 0.999
    period: 7d
    min_requests: 1
"#,
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("replywatch-slo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool")
    };
    let good = rules::render(&objectives, rules::RuleOptions::default()).unwrap();
    std::fs::write(dir.join("slo-rules.yml"), &good).unwrap();
    std::fs::write(
        dir.join("slo-rules_test.yml"),
        rules_test::render(&objectives, "slo-rules.yml").unwrap(),
    )
    .unwrap();
    let checked = run(&["check", "rules", "slo-rules.yml"]);
    assert!(checked.status.success(), "{checked:?}");
    let tested = run(&["test", "rules", "slo-rules_test.yml"]);
    assert!(
        tested.status.success(),
        "{}",
        String::from_utf8_lossy(&tested.stdout)
    );
    // A fast tier that waits for twice the error ratio: the tier scenario
    // between its real threshold and the doubled one catches it.
    let wrong = good.replace("> 0.336 and", "> 0.672 and");
    assert_ne!(wrong, good);
    std::fs::write(dir.join("slo-rules.yml"), &wrong).unwrap();
    let tested = run(&["test", "rules", "slo-rules_test.yml"]);
    assert!(
        !tested.status.success(),
        "the tests missed a wrong threshold"
    );
    // No min_requests guard: the quiet account's misses page.
    let unguarded = good.replace(" >= 10\n", " >= 0\n");
    assert_ne!(unguarded, good);
    std::fs::write(dir.join("slo-rules.yml"), &unguarded).unwrap();
    let tested = run(&["test", "rules", "slo-rules_test.yml"]);
    assert!(!tested.status.success(), "the tests missed a missing guard");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Alertmanager accepts the shipped routing and inhibition.
#[test]
fn alertmanager_accepts_the_shipped_configuration() {
    let out = Command::new("amtool")
        .args(["check-config", "dashboards/alertmanager/alertmanager.yml"])
        .current_dir(repo())
        .output()
        .expect("amtool must be installed: apt-get install prometheus-alertmanager (scripts/test does it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SUCCESS"), "{text}");
}

/// The SLO dashboard reads only series the shipped rules record or
/// replywatch exports.
#[test]
fn the_slo_dashboard_reads_recorded_series() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("dashboards/grafana/slo.json")).unwrap(),
    )
    .unwrap();
    let rules =
        std::fs::read_to_string(repo().join("dashboards/prometheus/slo-rules.yml")).unwrap();
    let mut exprs = 0;
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            exprs += 1;
            let mut rest = expr;
            while let Some(at) = rest.find("slo:replywatch_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                assert!(
                    rules.contains(&format!("record: {name}\n")),
                    "{}: {name} is not recorded by slo-rules.yml",
                    p["title"]
                );
                rest = &rest[at + name.len()..];
            }
        }
    }
    assert!(exprs >= 8);
}
