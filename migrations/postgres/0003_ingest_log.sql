-- The ingestion log exists on SQLite only (`serve` writes PostgreSQL's
-- `events` directly); this keeps the version numbers aligned.
SELECT 1;
