-- Ingestion speed: the table becomes its primary key (WITHOUT ROWID), so a
-- new event updates two B-trees (key, time) instead of four; the unused
-- per-conversation index goes. Retention deletes by key, not rowid.
CREATE TABLE events_v2 (
    account      TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    sender       TEXT    NOT NULL CHECK (sender IN ('customer', 'agent', 'bot', 'auto')),
    at_us        INTEGER NOT NULL,
    agent        TEXT,
    PRIMARY KEY (account, channel, id)
) WITHOUT ROWID;
INSERT INTO events_v2 SELECT account, channel, id, conversation, sender, at_us, agent FROM events;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_by_time ON events (at_us);
