-- backstop schema, version 5: privacy at rest (encryption, retention,
-- tamper-evident trail). Values of the sealed columns (workflow.SealedColumns:
-- messages.raw, messages.subject, messages.reason, evidence.body, evidence.subject,
-- events.detail, outbox.mail, outbox.subject, incidents.subject) are
-- AES-256-GCM sealed BLOBs from now on; a database made before this version
-- is sealed by the first start with a key.

-- Data keys, each wrapped (sealed) under a storage key. During a change of
-- storage key a data key is wrapped under both.
CREATE TABLE seal_keys (
    id         TEXT    NOT NULL,            -- data key id, hex, carried by every sealed value
    master     TEXT    NOT NULL,            -- workflow.KeyID of the storage key wrapping it
    wrapped    BLOB    NOT NULL,
    current    INTEGER NOT NULL DEFAULT 0,  -- new values are sealed under the current key
    created_at INTEGER NOT NULL,
    PRIMARY KEY (id, master)
);

-- Progress of a sealing pass (first encryption, key rotation): 'pass' names
-- the target data key, 'cursor:TABLE.COLUMN' the last row done.
CREATE TABLE seal_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The original as received: its SHA-256 (hex; kept after retention purges
-- the raw message) and the Authentication-Results it arrived with (JSON array).
ALTER TABLE messages ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN auth_results TEXT NOT NULL DEFAULT '';

-- SHA-256 (hex) of the forwarded original's text: deduplication, and proof
-- of what the evidence was once its text is purged.
ALTER TABLE evidence ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
CREATE INDEX evidence_digest ON evidence (incident_id, sha256);

-- The audit trail is hash-chained per incident (chain 0: events about no
-- incident): hash = SHA-256 of prev_hash and the event's content.
ALTER TABLE events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN hash TEXT NOT NULL DEFAULT '';

-- When retention purged the incident's evidence (NULL: not yet).
ALTER TABLE incidents ADD COLUMN evidence_purged_at INTEGER;

-- Where a chain starts after retention removed its oldest events: the hash
-- of the last removed event.
CREATE TABLE chain_anchors (
    chain    INTEGER PRIMARY KEY,           -- incident id, 0 for events about no incident
    hash     TEXT    NOT NULL,
    before   INTEGER NOT NULL               -- events with a smaller id were removed
);
