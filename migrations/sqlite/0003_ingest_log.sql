-- The ingestion log (SQLite): `serve` appends new events here in small
-- durable commits, which touch only the table's last pages, and moves them
-- into `events` in large sorted transactions. Readers merge it first.
CREATE TABLE ingest_log (
    seq          INTEGER PRIMARY KEY,
    account      TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    sender       TEXT    NOT NULL,
    at_us        INTEGER NOT NULL,
    agent        TEXT
);
