//! `replywatch serve`: the service until Ctrl-C or SIGTERM, and its `--demo`.

use super::*;

/// Runs `serve` until Ctrl-C or SIGTERM.
pub fn run_serve(mut config: crate::config::ServeConfig) -> anyhow::Result<()> {
    crate::telemetry::init();
    let demo_dir = match config.demo {
        true => {
            let dir = std::env::temp_dir().join(format!("replywatch-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            config.database_url = format!("sqlite://{}", dir.join("demo.db").display());
            config.retention.retention = crate::config::Retention::Off;
            Some(dir)
        }
        false => None,
    };
    let served = runtime()?.block_on(async {
        if demo_dir.is_some() {
            fill_demo(&config.database_url).await?;
        }
        let app = crate::startup::Application::build(config).await?;
        if demo_dir.is_some() {
            eprintln!(
                "demo: a generated month of events for 12 accounts (every third answers fast; acct-0001 keeps business hours); open http://{}/ (the database is deleted on exit)",
                app.local_addr()?
            );
        }
        app.run_until_stopped(crate::shutdown::signal()).await
    });
    if let Some(dir) = demo_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    served
}

/// The demo account with opening hours, and its calendar.
const DEMO_BUSINESS_HOURS: (&str, &str) = (
    "acct-0001",
    r#"{"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]], "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]}}"#,
);

/// Stores a generated, realistic month of events ending now (`serve --demo`).
async fn fill_demo(database_url: &str) -> anyhow::Result<()> {
    let opts = GenerateOptions {
        events: 200_000,
        seed: 2026,
        accounts: 12,
        end: chrono::Utc::now() - chrono::Duration::hours(1),
        days: 30,
    };
    let mut ndjson = Vec::new();
    // Issue 19: a realistic mix — responsive businesses beside slow ones.
    crate::files::generate::generate_demo(&opts, &mut ndjson, |_| {})?;
    let mut set = EventSet::new();
    read_into(&ndjson[..], &mut set, OnInvalid::Fail, |_| {})?;
    let now = Timestamp::from_datetime(chrono::Utc::now());
    // Replies the generator places after now have not happened yet.
    let events: Vec<domain::MessageEvent> = (0..set.len())
        .map(|i| set.event(i))
        .filter(|e| e.at < now)
        .collect();
    let store = Store::connect(database_url).await?;
    store.migrate().await?;
    for chunk in events.chunks(50_000) {
        store.insert_events(chunk).await?;
    }
    // One account keeps business hours (compare `?clock=business`).
    store
        .put_calendar(DEMO_BUSINESS_HOURS.0, DEMO_BUSINESS_HOURS.1, now)
        .await?;
    store.close().await;
    Ok(())
}
