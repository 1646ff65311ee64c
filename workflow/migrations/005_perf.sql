-- Indexes for lookups that ran on every message and otherwise walked the
-- whole table: the Message-ID collision check (dedupe.go) reads messages by
-- message_id. IF NOT EXISTS: the file may be renumbered when merged.
CREATE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);
