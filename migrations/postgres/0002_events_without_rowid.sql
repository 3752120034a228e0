-- Ingestion speed: the unused per-conversation index goes (SQLite also
-- turns its table into a WITHOUT ROWID one in this migration).
DROP INDEX IF EXISTS events_by_conversation;
