//! The calendars set through the API (`PUT /v1/accounts/{account}/calendar`).

use super::*;

impl Store {
    /// Calendars set through the API: (account, calendar JSON).
    pub async fn load_calendars(&self) -> anyhow::Result<Vec<(String, String)>> {
        const SQL: &str = "SELECT account, calendar FROM calendars ORDER BY account";
        on_pool!(self, |pool| sqlx::query_as(SQL).fetch_all(pool).await)
            .context("loading calendars")
    }

    /// Stores (or replaces) one account's calendar JSON, as changed at
    /// `at` (the caller's clock: the store reads none for data).
    pub async fn put_calendar(
        &self,
        account: &str,
        json: &str,
        at: crate::domain::Timestamp,
    ) -> anyhow::Result<()> {
        const SQL: &str = "INSERT INTO calendars (account, calendar, updated_at_us) VALUES ($1, $2, $3) \
             ON CONFLICT (account) DO UPDATE SET calendar = excluded.calendar, updated_at_us = excluded.updated_at_us";
        let now = at.unix_micros();
        on_pool!(self, |pool| sqlx::query(SQL)
            .bind(account)
            .bind(json)
            .bind(now)
            .execute(pool)
            .await
            .map(drop))
        .context("storing a calendar")
    }
}
