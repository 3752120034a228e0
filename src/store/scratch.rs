//! Throw-away databases for the benchmarks and the tests: a SQLite file in
//! its own temporary folder, or a PostgreSQL database created on a server
//! and dropped (with its connections) by [`ScratchDb::remove`]. One type
//! for both backends and for every caller (`bench ingest`, `bench
//! metrics`, the store, API and cluster tests).

use super::Store;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a scratch database lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database; remove it with [`ScratchDb::remove`].
#[derive(Debug)]
pub struct ScratchDb {
    pub url: String,
    /// The PostgreSQL server's admin URL and the database's name.
    postgres: Option<(String, String)>,
    dir: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl ScratchDb {
    /// Creates one. `name` is part of its file or database name (ASCII
    /// letters, digits, `_`); `postgres_admin_url` reaches a database of
    /// the server on which to create it.
    pub async fn create(
        backend: Backend,
        name: &str,
        postgres_admin_url: &str,
    ) -> anyhow::Result<ScratchDb> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}_{}_{n}", name, std::process::id());
        let dir = std::env::temp_dir().join(format!("replywatch-{tag}"));
        std::fs::create_dir_all(&dir)?;
        match backend {
            Backend::Sqlite => Ok(ScratchDb {
                url: format!("sqlite://{}", dir.join("scratch.db").display()),
                postgres: None,
                dir,
            }),
            Backend::Postgres => {
                let db = format!("replywatch_{tag}").to_ascii_lowercase();
                let admin = Store::connect(postgres_admin_url).await?;
                admin
                    .execute_admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                    .await?;
                admin
                    .execute_admin(&format!("CREATE DATABASE {db}"))
                    .await?;
                admin.close().await;
                let base = postgres_admin_url
                    .rsplit_once('/')
                    .map_or(postgres_admin_url, |(b, _)| b);
                Ok(ScratchDb {
                    url: format!("{base}/{db}"),
                    postgres: Some((postgres_admin_url.to_string(), db)),
                    dir,
                })
            }
        }
    }

    /// Opens it, migrated.
    pub async fn open(&self) -> anyhow::Result<Store> {
        let store = Store::connect(&self.url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// The same database reached through another URL (e.g. a relay).
    pub fn reached_at(self, url: String) -> ScratchDb {
        ScratchDb { url, ..self }
    }

    /// Drops it (PostgreSQL: with its connections) and its folder.
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some((admin_url, db)) = &self.postgres {
            let admin = Store::connect(admin_url).await?;
            admin
                .execute_admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await?;
            admin.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}
