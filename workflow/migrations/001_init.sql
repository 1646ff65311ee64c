-- backstop schema, version 1. Times are Unix milliseconds (UTC).
-- Addresses used for matching (customer_address, recipient, ...) are stored
-- lower-cased.

CREATE TABLE incidents (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT, -- the n of INC-n
    state               TEXT    NOT NULL,
    customer_address    TEXT    NOT NULL DEFAULT '',      -- '' when the forward did not show it
    customer_name       TEXT    NOT NULL DEFAULT '',
    organisation        TEXT    NOT NULL DEFAULT '',      -- '' for free-mail customers
    reporter_address    TEXT    NOT NULL,
    reporter_name       TEXT    NOT NULL DEFAULT '',
    lead_address        TEXT    NOT NULL DEFAULT '',      -- the assigned lead
    lead_name           TEXT    NOT NULL DEFAULT '',
    subject             TEXT    NOT NULL DEFAULT '',
    customer_message_id TEXT    NOT NULL DEFAULT '',      -- latest original's Message-ID
    handed_off          INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    closed_at           INTEGER
);
CREATE INDEX incidents_customer ON incidents (customer_address, state);
CREATE INDEX incidents_organisation ON incidents (organisation);

-- Every message seen in a watched mailbox, exactly once.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox      TEXT    NOT NULL,
    uidvalidity  INTEGER NOT NULL,
    uid          INTEGER,                   -- NULL when not from IMAP
    dedupe_key   TEXT    NOT NULL UNIQUE,   -- the Message-ID, or sha256:HEX of the raw message
    message_id   TEXT    NOT NULL DEFAULT '',
    from_address TEXT    NOT NULL DEFAULT '',
    subject      TEXT    NOT NULL DEFAULT '',
    received_at  INTEGER NOT NULL,
    size         INTEGER NOT NULL DEFAULT 0,
    class        TEXT    NOT NULL,          -- forward, reply, outsider, unmatched, auto, bounce, malformed, too_large
    disposition  TEXT    NOT NULL CHECK (disposition IN ('processed', 'quarantined')),
    reason       TEXT    NOT NULL DEFAULT '',
    incident_id  INTEGER REFERENCES incidents (id),
    raw          BLOB,                      -- kept for forwards (evidence) and quarantined messages
    UNIQUE (mailbox, uidvalidity, uid)
);
CREATE INDEX messages_incident ON messages (incident_id);

-- The forwarded originals: the reported conversation.
CREATE TABLE evidence (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    message_row  INTEGER NOT NULL REFERENCES messages (id),
    idx          INTEGER NOT NULL,          -- position in the forward, outermost first
    from_address TEXT    NOT NULL DEFAULT '',
    from_name    TEXT    NOT NULL DEFAULT '',
    date         INTEGER,                   -- NULL when unreadable
    date_raw     TEXT    NOT NULL DEFAULT '',
    subject      TEXT    NOT NULL DEFAULT '',
    message_id   TEXT    NOT NULL DEFAULT '',
    body         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX evidence_incident ON evidence (incident_id, id);

-- The audit trail.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER REFERENCES incidents (id), -- NULL: about no incident (quarantine)
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    detail      TEXT    NOT NULL DEFAULT '',
    message_id  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_incident ON events (incident_id, id);

-- Where the watcher is in each mailbox.
CREATE TABLE sync_state (
    mailbox     TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Outgoing mail. The dispatcher moves rows queued|held → sending → sent, and
-- never sends a row twice (compare-and-set on state).
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id   INTEGER REFERENCES incidents (id),
    template      TEXT    NOT NULL,
    customer      INTEGER NOT NULL DEFAULT 0,
    recipient     TEXT    NOT NULL,         -- lower-cased address (caps, threading)
    token         TEXT    NOT NULL DEFAULT '', -- reply token issued to recipient
    envelope_from TEXT    NOT NULL DEFAULT '',
    rcpt          TEXT    NOT NULL,         -- JSON array of envelope recipients
    message_id    TEXT    NOT NULL UNIQUE,
    subject       TEXT    NOT NULL DEFAULT '',
    mail          BLOB    NOT NULL,         -- JSON: headers, bodies, attachments
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'held', 'sending', 'sent', 'failed', 'cancelled', 'uncertain')),
    not_before    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER
);
CREATE INDEX outbox_due ON outbox (state, not_before);
CREATE INDEX outbox_thread ON outbox (incident_id, recipient, id);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
CREATE INDEX outbox_incident_created ON outbox (incident_id, created_at);
CREATE INDEX outbox_token ON outbox (token);
