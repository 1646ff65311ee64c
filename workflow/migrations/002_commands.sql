-- backstop schema, version 2: lead commands.

-- When the incident's SEVER took effect (NULL: never, or cancelled). It
-- stays set when the incident is later closed: the customer is still
-- severed, and `backstop severed` lists them.
ALTER TABLE incidents ADD COLUMN severed_at INTEGER;

-- Reporters who replied HANDOFF: they get nothing more about the incident
-- but its outcome. (incidents.handed_off mirrors it for the first reporter.)
CREATE TABLE handoffs (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    address     TEXT    NOT NULL,           -- lower-cased
    at          INTEGER NOT NULL,
    PRIMARY KEY (incident_id, address)
);

-- The outbox gains two states and who asked for a customer email:
--   awaiting_approval: a SEVER waiting for a second lead's APPROVE; never sent;
--   bounced: sent, then a bounce came back for it.
-- SQLite cannot change a CHECK constraint: the table is rebuilt. No table
-- refers to outbox, so the rebuild keeps every id.
CREATE TABLE outbox_v2 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id   INTEGER REFERENCES incidents (id),
    template      TEXT    NOT NULL,
    customer      INTEGER NOT NULL DEFAULT 0,
    recipient     TEXT    NOT NULL,
    token         TEXT    NOT NULL DEFAULT '',
    envelope_from TEXT    NOT NULL DEFAULT '',
    rcpt          TEXT    NOT NULL,
    message_id    TEXT    NOT NULL UNIQUE,
    subject       TEXT    NOT NULL DEFAULT '',
    mail          BLOB    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'held', 'awaiting_approval', 'sending', 'sent',
                                                    'failed', 'bounced', 'cancelled', 'uncertain')),
    not_before    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    requested_by  TEXT    NOT NULL DEFAULT '', -- customer email: the lead whose command queued it
    approved_by   TEXT    NOT NULL DEFAULT '', -- the second lead, under the two-person rule
    prev_state    TEXT    NOT NULL DEFAULT ''  -- the incident's state before the command; CANCEL restores it
);
INSERT INTO outbox_v2 (id, incident_id, template, customer, recipient, token, envelope_from, rcpt, message_id,
    subject, mail, state, not_before, attempts, last_error, created_at, sent_at)
SELECT id, incident_id, template, customer, recipient, token, envelope_from, rcpt, message_id,
    subject, mail, state, not_before, attempts, last_error, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (state, not_before);
CREATE INDEX outbox_thread ON outbox (incident_id, recipient, id);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
CREATE INDEX outbox_incident_created ON outbox (incident_id, created_at);
CREATE INDEX outbox_token ON outbox (token);
