-- backstop schema, version 3: time does its part (scheduler, weekly digest,
-- reminders, check-ins). Times are Unix milliseconds (UTC).

-- The scheduler: for each job, the latest due moment whose run completed.
-- It is updated in the same transaction as the mail the run queued, so a
-- crash mid-run leaves the run due (it happens again, once) and a finished
-- run is never repeated.
CREATE TABLE schedule_runs (
    name    TEXT    PRIMARY KEY,
    due_at  INTEGER NOT NULL,  -- the due moment covered (several missed ones collapse into the latest)
    done_at INTEGER NOT NULL   -- when the run completed
);

-- Leads who answered a digest with DIGEST OFF (DIGEST ON deletes the row).
CREATE TABLE digest_optout (
    address TEXT    PRIMARY KEY,  -- lower-cased
    at      INTEGER NOT NULL
);

-- Reminders sent about an incident nobody acted on: at most one per
-- incident, kind and interval n (the n-th interval of business time).
CREATE TABLE reminders (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('leads', 'head_of_support')),
    n           INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (incident_id, kind, n)
);

-- Check-ins with the teammates who reported an incident: at most one per
-- incident and reporter. A lead's NO-CHECKIN sets incidents.no_checkin.
CREATE TABLE checkins (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    address     TEXT    NOT NULL,   -- lower-cased
    at          INTEGER NOT NULL,
    outbox_id   INTEGER,            -- NULL: skipped (handed off)
    PRIMARY KEY (incident_id, address)
);
ALTER TABLE incidents ADD COLUMN no_checkin INTEGER NOT NULL DEFAULT 0;

-- What the digest, reminders and check-ins look up.
CREATE INDEX incidents_created ON incidents (created_at);
CREATE INDEX incidents_state ON incidents (state, created_at);
CREATE INDEX incidents_closed ON incidents (closed_at);
CREATE INDEX incidents_severed ON incidents (severed_at);
CREATE INDEX events_kind_at ON events (kind, at);
CREATE INDEX events_incident_kind ON events (incident_id, kind, at);
