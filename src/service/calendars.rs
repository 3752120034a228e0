//! The service's business-hours calendars (SPEC §3): the `--calendar` file,
//! reloaded when it changes or on SIGHUP, plus per-account calendars set
//! through `PUT /v1/accounts/{account}/calendar` (kept in the store, and
//! taking precedence for their account). A file that fails to load keeps
//! the previous calendars; the reason goes to the log.

use crate::domain::{Calendar, CalendarBook};
use anyhow::Context;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// Where an account's calendar comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `PUT /v1/accounts/{account}/calendar`.
    Api,
    /// The account's entry in the `--calendar` file.
    File,
    /// The file's `default`.
    Default,
}

#[derive(Debug, Default)]
struct State {
    file_book: CalendarBook,
    file_raw: Value,
    file_mtime: Option<SystemTime>,
    api: BTreeMap<String, (Calendar, Value)>,
    book: Arc<CalendarBook>,
}

impl State {
    fn rebuild(&mut self) {
        let mut book = self.file_book.clone();
        for (account, (calendar, _)) in &self.api {
            book.set(account, calendar.clone());
        }
        self.book = Arc::new(book);
    }
}

/// See the module header.
#[derive(Debug)]
pub struct Calendars {
    file: Option<PathBuf>,
    state: RwLock<State>,
}

fn read_file(path: &PathBuf) -> anyhow::Result<(CalendarBook, Value, Option<SystemTime>)> {
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let json = std::fs::read_to_string(path)
        .with_context(|| format!("reading calendar {}", path.display()))?;
    let book = CalendarBook::from_json(&json).with_context(|| format!("in {}", path.display()))?;
    let raw = serde_json::from_str(&json).unwrap_or(Value::Null);
    Ok((book, raw, mtime))
}

impl Calendars {
    /// Loads the file (which must be valid at start-up) and the calendars
    /// stored through the API (an invalid one is logged and skipped).
    pub fn load(file: Option<PathBuf>, stored: Vec<(String, String)>) -> anyhow::Result<Calendars> {
        let mut state = State::default();
        if let Some(path) = &file {
            let (book, raw, mtime) = read_file(path)?;
            (state.file_book, state.file_raw, state.file_mtime) = (book, raw, mtime);
        }
        for (account, json) in stored {
            match Calendar::from_json(&json, &format!("stored calendar of {account}")) {
                Ok(c) => {
                    let raw = serde_json::from_str(&json).unwrap_or(Value::Null);
                    state.api.insert(account, (c, raw));
                }
                Err(e) => tracing::error!(error = %e, "a stored calendar is invalid; ignored"),
            }
        }
        state.rebuild();
        Ok(Calendars {
            file,
            state: RwLock::new(state),
        })
    }

    /// The calendars in force.
    pub fn book(&self) -> Arc<CalendarBook> {
        self.read().book.clone()
    }

    /// Re-reads the file if it changed (or always, with `force`). On error
    /// the previous calendars stay and the error is returned.
    pub fn reload_file(&self, force: bool) -> anyhow::Result<bool> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if !force && mtime == self.read().file_mtime {
            return Ok(false);
        }
        let loaded = read_file(path);
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        // Remember the attempt, so a bad file is reported once, not every poll.
        state.file_mtime = mtime;
        let (book, raw, _) = loaded?;
        (state.file_book, state.file_raw) = (book, raw);
        state.rebuild();
        Ok(true)
    }

    /// Sets one account's calendar (already validated).
    pub fn set(&self, account: &str, calendar: Calendar, raw: Value) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.api.insert(account.to_string(), (calendar, raw));
        state.rebuild();
    }

    /// Takes the calendars stored through the API as they are in the store
    /// now (a cluster node picking up a `PUT` made on another node); true
    /// when something changed. An invalid one keeps its previous version.
    pub fn sync_stored(&self, stored: Vec<(String, String)>) -> bool {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut api = BTreeMap::new();
        for (account, json) in stored {
            let raw: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
            if let Some(held) = state.api.get(&account).filter(|(_, r)| *r == raw) {
                api.insert(account, held.clone());
                continue;
            }
            match Calendar::from_json(&json, &format!("stored calendar of {account}")) {
                Ok(c) => {
                    api.insert(account, (c, raw));
                }
                Err(e) => {
                    tracing::error!(error = %e, "a stored calendar is invalid; ignored");
                    if let Some(held) = state.api.get(&account) {
                        api.insert(account, held.clone());
                    }
                }
            }
        }
        let changed = api.len() != state.api.len()
            || api
                .iter()
                .zip(&state.api)
                .any(|((a, (_, x)), (b, (_, y)))| a != b || x != y);
        if changed {
            state.api = api;
            state.rebuild();
        }
        changed
    }

    /// The JSON of the calendar in force for `account`, and where it comes from.
    pub fn get(&self, account: &str) -> Option<(Source, Value)> {
        let state = self.read();
        if let Some((_, raw)) = state.api.get(account) {
            return Some((Source::Api, raw.clone()));
        }
        let own = &state.file_raw["accounts"][account];
        if !own.is_null() && state.file_book.for_account(account).is_some() {
            return Some((Source::File, own.clone()));
        }
        let default = &state.file_raw["default"];
        (!default.is_null() && state.file_book.for_account(account).is_some())
            .then(|| (Source::Default, default.clone()))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reloads the file when it changes (polled every `every`) or on SIGHUP.
pub async fn watch(calendars: Arc<Calendars>, every: std::time::Duration) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let forced = match hangup.as_mut() {
            Some(h) => tokio::select! {
                _ = h.recv() => true,
                _ = tokio::time::sleep(every) => false,
            },
            None => {
                tokio::time::sleep(every).await;
                false
            }
        };
        #[cfg(not(unix))]
        let forced = {
            tokio::time::sleep(every).await;
            false
        };
        match calendars.reload_file(forced) {
            Ok(true) => tracing::info!("calendar file reloaded"),
            Ok(false) => {}
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "the calendar file is invalid; the previous calendars stay in force"
            ),
        }
    }
}

/// Cluster nodes: re-reads the calendars stored through the API every
/// `every`, so a `PUT` on one node is in force on all of them.
pub async fn sync_from_store(
    calendars: Arc<Calendars>,
    store: crate::store::Store,
    every: std::time::Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        match store.load_calendars().await {
            Ok(stored) => {
                if calendars.sync_stored(stored) {
                    tracing::info!("calendars stored by another node taken over");
                }
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "reading stored calendars failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: &str =
        r#"{"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}}"#;

    #[test]
    fn a_bad_file_on_reload_keeps_the_previous_calendars() {
        let dir = std::env::temp_dir().join(format!("rw-cal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("calendar.json");
        std::fs::write(&path, format!(r#"{{"accounts": {{"berlin": {BERLIN}}}}}"#)).unwrap();
        let calendars = Calendars::load(Some(path.clone()), Vec::new()).unwrap();
        assert!(calendars.book().for_account("berlin").is_some());
        std::fs::write(
            &path,
            r#"{"accounts": {"berlin": {"timezone": "Mars/Olympus"}}}"#,
        )
        .unwrap();
        let err = calendars.reload_file(true).unwrap_err();
        assert!(format!("{err:#}").contains("Mars/Olympus"), "{err:#}");
        assert!(
            calendars.book().for_account("berlin").is_some(),
            "previous calendars kept"
        );
        std::fs::write(&path, r#"{"accounts": {}}"#).unwrap();
        assert!(calendars.reload_file(true).unwrap());
        assert!(calendars.book().for_account("berlin").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn calendars_stored_by_another_node_are_taken_over() {
        let calendars = Calendars::load(None, Vec::new()).unwrap();
        assert!(calendars.sync_stored(vec![("acme".into(), BERLIN.into())]));
        assert_eq!(calendars.get("acme").unwrap().0, Source::Api);
        assert!(calendars.book().for_account("acme").is_some());
        assert!(
            !calendars.sync_stored(vec![("acme".into(), BERLIN.into())]),
            "unchanged"
        );
        assert!(calendars.sync_stored(Vec::new()));
        assert!(calendars.get("acme").is_none());
    }

    #[test]
    fn an_api_calendar_overrides_the_file_for_its_account() {
        let calendars = Calendars::load(None, vec![("acme".into(), BERLIN.into())]).unwrap();
        let (source, raw) = calendars.get("acme").unwrap();
        assert_eq!(source, Source::Api);
        assert_eq!(raw["timezone"], "Europe/Berlin");
        assert!(calendars.get("other").is_none());
    }
}
