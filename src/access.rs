//! Who may see and change which accounts (SPEC §6 "Tokens scoped to
//! accounts"): the `--tokens FILE` book (re-read when it changes; an
//! invalid file keeps the previous tokens and the log says why) and
//! `--api-token` (one token for every account). Pure lookups plus the
//! file watch; the HTTP layer turns an [`Access`] into 401/403.

use crate::secret::Secret;
use anyhow::Context;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// The accounts a token reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every account (`"accounts": "*"`, or `--api-token`).
    All,
    Accounts(Arc<HashSet<String>>),
}

/// What the caller of one request may do: the token's name (for the log)
/// and its scope. Without any token configured, everyone has [`Scope::All`].
#[derive(Debug, Clone)]
pub struct Access {
    pub name: Option<String>,
    pub scope: Scope,
}

impl Access {
    /// No token configured: the whole service is open.
    pub fn open() -> Access {
        Access {
            name: None,
            scope: Scope::All,
        }
    }

    pub fn allows(&self, account: &str) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Accounts(a) => a.contains(account),
        }
    }

    pub fn is_all(&self) -> bool {
        self.scope == Scope::All
    }
}

/// One token of the book.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    token: Secret,
    scope: Scope,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BookSpec {
    tokens: Vec<EntrySpec>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySpec {
    name: String,
    token: String,
    accounts: serde_json::Value,
}

/// The token book: `--tokens` entries plus `--api-token`.
#[derive(Debug, Clone, Default)]
pub struct TokenBook {
    entries: Vec<Entry>,
}

impl TokenBook {
    /// Parses and validates the JSON of SPEC §6; errors name the entry and field.
    pub fn from_json(json: &str) -> anyhow::Result<TokenBook> {
        let spec: BookSpec = serde_json::from_str(json)
            .context("not a tokens file ({\"tokens\": [{\"name\", \"token\", \"accounts\"}]})")?;
        let mut entries = Vec::with_capacity(spec.tokens.len());
        let mut seen_tokens: HashSet<String> = HashSet::new();
        for (i, e) in spec.tokens.into_iter().enumerate() {
            let at = |field: &str| format!("tokens[{i}].{field}");
            anyhow::ensure!(
                !e.name.trim().is_empty(),
                "{}: must not be empty",
                at("name")
            );
            let token: Secret = e
                .token
                .parse()
                .map_err(|why| anyhow::anyhow!("{}: {why}", at("token")))?;
            anyhow::ensure!(
                seen_tokens.insert(e.token.clone()),
                "{}: the same token is given twice (entry {:?})",
                at("token"),
                e.name
            );
            let scope = match &e.accounts {
                serde_json::Value::String(s) if s == "*" => Scope::All,
                serde_json::Value::Array(list) => {
                    let mut accounts = HashSet::new();
                    for (j, a) in list.iter().enumerate() {
                        let a = a.as_str().ok_or_else(|| {
                            anyhow::anyhow!("{}[{j}]: expected an account string", at("accounts"))
                        })?;
                        crate::domain::AccountId::parse(a)
                            .map_err(|why| anyhow::anyhow!("{}[{j}]: {why}", at("accounts")))?;
                        accounts.insert(a.to_string());
                    }
                    Scope::Accounts(Arc::new(accounts))
                }
                other => anyhow::bail!(
                    "{}: expected \"*\" or a list of accounts, got {other}",
                    at("accounts")
                ),
            };
            entries.push(Entry {
                name: e.name,
                token,
                scope,
            });
        }
        Ok(TokenBook { entries })
    }

    /// The book with `--api-token` added as an all-accounts token.
    fn with_api_token(mut self, api_token: Option<&Secret>) -> TokenBook {
        if let Some(t) = api_token {
            self.entries.push(Entry {
                name: "api-token".into(),
                token: t.clone(),
                scope: Scope::All,
            });
        }
        self
    }

    /// The access of a presented token; every entry is compared (in
    /// constant time each) so the time does not tell which one matched.
    pub fn lookup(&self, presented: &str) -> Option<Access> {
        let mut found = None;
        for e in &self.entries {
            if e.token.matches(presented.as_bytes()) && found.is_none() {
                found = Some(Access {
                    name: Some(e.name.clone()),
                    scope: e.scope.clone(),
                });
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The service's tokens: the file (if any), reloaded on change.
#[derive(Debug)]
pub struct Tokens {
    file: Option<PathBuf>,
    api_token: Option<Secret>,
    state: RwLock<(Arc<TokenBook>, Option<SystemTime>)>,
}

impl Tokens {
    /// Loads `--tokens` (an invalid file refuses the start) and `--api-token`.
    pub fn load(file: Option<PathBuf>, api_token: Option<Secret>) -> anyhow::Result<Tokens> {
        let (book, mtime) = match &file {
            Some(path) => read(path)?,
            None => (TokenBook::default(), None),
        };
        let book = book.with_api_token(api_token.as_ref());
        Ok(Tokens {
            file,
            api_token,
            state: RwLock::new((Arc::new(book), mtime)),
        })
    }

    /// The book in force.
    pub fn book(&self) -> Arc<TokenBook> {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Re-reads the file when its modification time changed; true when
    /// reloaded. An invalid file keeps the previous book.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if mtime == self.state.read().unwrap_or_else(|e| e.into_inner()).1 {
            return Ok(false);
        }
        let loaded = read(path);
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        // Remember the attempt, so a bad file is reported once, not every
        // poll (as `calendars::Calendars::reload_file` does).
        state.1 = mtime;
        let (book, _) = loaded?;
        state.0 = Arc::new(book.with_api_token(self.api_token.as_ref()));
        Ok(true)
    }
}

fn read(path: &PathBuf) -> anyhow::Result<(TokenBook, Option<SystemTime>)> {
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let json = std::fs::read_to_string(path)
        .with_context(|| format!("reading tokens {}", path.display()))?;
    let book = TokenBook::from_json(&json).with_context(|| format!("in {}", path.display()))?;
    Ok((book, mtime))
}

/// Re-reads the tokens file every `every` (the log names what changed, never a token).
pub async fn watch(tokens: Arc<Tokens>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        match tokens.reload() {
            Ok(true) => tracing::info!("tokens file reloaded"),
            Ok(false) => {}
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "the tokens file is invalid; the previous tokens stay in force"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOK: &str = r#"{"tokens": [
        {"name": "acme", "token": "s3cr3t-1", "accounts": ["1000123", "1000124"]},
        {"name": "admin", "token": "s3cr3t-2", "accounts": "*"}]}"#;

    #[test]
    fn a_token_reaches_only_its_accounts() {
        let book = TokenBook::from_json(BOOK).unwrap();
        let acme = book.lookup("s3cr3t-1").unwrap();
        assert_eq!(acme.name.as_deref(), Some("acme"));
        assert!(acme.allows("1000123") && !acme.allows("1000125") && !acme.is_all());
        assert!(book.lookup("s3cr3t-2").unwrap().is_all());
        assert!(book.lookup("s3cr3t").is_none());
        assert!(book.lookup("").is_none());
    }

    #[test]
    fn bad_token_files_name_the_entry_and_field() {
        for (json, part) in [
            (
                r#"{"tokens":[{"name":"a","token":"","accounts":"*"}]}"#,
                "tokens[0].token",
            ),
            (
                r#"{"tokens":[{"name":"","token":"t","accounts":"*"}]}"#,
                "tokens[0].name",
            ),
            (
                r#"{"tokens":[{"name":"a","token":"t","accounts":"all"}]}"#,
                "tokens[0].accounts",
            ),
            (
                r#"{"tokens":[{"name":"a","token":"t","accounts":["ok","a\nb"]}]}"#,
                "tokens[0].accounts[1]",
            ),
            (
                r#"{"tokens":[{"name":"a","token":"t","accounts":"*"},{"name":"b","token":"t","accounts":"*"}]}"#,
                "tokens[1].token",
            ),
        ] {
            let e = format!("{:#}", TokenBook::from_json(json).unwrap_err());
            assert!(e.contains(part), "{json}: {e}");
            assert!(!e.contains("\"t\""), "a token never shows in an error: {e}");
        }
    }

    #[test]
    fn the_api_token_is_a_token_for_every_account() {
        let book = TokenBook::default().with_api_token(Some(&"admin-token".into()));
        assert!(book.lookup("admin-token").unwrap().is_all());
    }
}
