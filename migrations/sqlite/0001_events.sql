-- Message events (SPEC §1), one row per distinct (account, channel, id).
-- at_us: UTC microseconds since the unix epoch (SPEC §1 precision).
CREATE TABLE events (
    account      TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    sender       TEXT    NOT NULL CHECK (sender IN ('customer', 'agent', 'bot', 'auto')),
    at_us        INTEGER NOT NULL,
    agent        TEXT,
    PRIMARY KEY (account, channel, id)
);
CREATE INDEX events_by_time ON events (at_us);
CREATE INDEX events_by_conversation ON events (account, channel, conversation, at_us);
