-- backstop schema, version 4: commands tied to their moment (issue 7).

-- Incremented by every state change: a command records the version it
-- left, so that the audit trail shows which state each command acted on.
ALTER TABLE incidents ADD COLUMN state_version INTEGER NOT NULL DEFAULT 0;

-- Every command carried out that changes an incident or writes to the
-- customer, with what it answered: the same command from the same sender
-- answering the same email is a replay, and is refused.
CREATE TABLE command_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id   INTEGER NOT NULL REFERENCES incidents (id),
    sender        TEXT    NOT NULL,           -- lower-cased
    command       TEXT    NOT NULL,           -- HMAC of the command line (replay.go commandDigest), never its text
    answers       TEXT    NOT NULL DEFAULT '', -- Message-ID of the backstop email answered; '' none
    state_version INTEGER NOT NULL,           -- incidents.state_version after the command
    message_id    TEXT    NOT NULL DEFAULT '', -- the reply's own Message-ID
    at            INTEGER NOT NULL
);
CREATE INDEX command_log_replay ON command_log (incident_id, sender, command, answers);

-- Notices a rate cap held back (they are never dropped silently): each is
-- also a notice_held_back event. Once the recipient's cap frees, one
-- held_back email summarises them and summarised_at is set.
CREATE TABLE held_back (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient     TEXT    NOT NULL,           -- lower-cased
    incident_id   INTEGER REFERENCES incidents (id),
    template      TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    summarised_at INTEGER
);
CREATE INDEX held_back_pending ON held_back (summarised_at, recipient);

-- A message whose Message-ID an earlier, different message carried is
-- processed all the same; this finds the earlier one for the audit trail.
CREATE INDEX messages_message_id ON messages (message_id);
