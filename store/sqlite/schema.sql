-- CareCrest Hub embedded store (SQLite). One file holds sealed records,
-- patient-index links, wrapped data keys, consent versions and the audit log.
-- PHI never appears in clear: record PHI elements are AES-GCM ciphertext,
-- identifiers are keyed hashes, data keys are wrapped.

CREATE TABLE IF NOT EXISTS records (
    id          TEXT PRIMARY KEY,
    idem_key    TEXT NOT NULL UNIQUE,
    patient_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    source      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    labels      TEXT NOT NULL,
    codes       TEXT NOT NULL,
    clear       BLOB NOT NULL,
    fields      BLOB NOT NULL,
    received_ns INTEGER NOT NULL,
    stored_ns   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_patient ON records (patient_id, type, received_ns);

CREATE TABLE IF NOT EXISTS patient_links (
    id_hash    TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    linked_ns  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS patient_links_by_patient ON patient_links (patient_id);

CREATE TABLE IF NOT EXISTS data_keys (
    owner      TEXT PRIMARY KEY,
    wrapped    BLOB NOT NULL,
    created_ns INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS consents (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    idem_key    TEXT NOT NULL UNIQUE,
    id          TEXT NOT NULL,
    patient_id  TEXT NOT NULL,
    directive   TEXT NOT NULL,
    recorded_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_by_patient ON consents (patient_id, id, seq);

CREATE TABLE IF NOT EXISTS audit_events (
    shard           TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL,
    time_ns         INTEGER NOT NULL,
    code            TEXT NOT NULL,
    action          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    actor_roles     TEXT NOT NULL,
    actor_org       TEXT NOT NULL,
    application     TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    patient_id      TEXT NOT NULL,
    record_type     TEXT NOT NULL,
    record_ids      TEXT NOT NULL,
    disclosed       TEXT NOT NULL,
    masked          TEXT NOT NULL,
    policy_revision TEXT NOT NULL,
    rules           TEXT NOT NULL,
    consents        TEXT NOT NULL,
    reason          TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL,
    PRIMARY KEY (shard, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS audit_by_key ON audit_events (idem_key) WHERE idem_key != '';
CREATE INDEX IF NOT EXISTS audit_by_patient ON audit_events (patient_id, time_ns);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_events (actor_id, time_ns);
CREATE INDEX IF NOT EXISTS audit_by_id ON audit_events (id);

-- The audit log is append-only: the hub never updates or deletes events.
-- (Anyone with write access to the file can drop these triggers; the hash
-- chain is what makes such changes detectable.)
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

-- Owners whose data key was destroyed (crypto-shredding). A destroyed owner
-- never gets a new key: data arriving for an erased patient is rejected.
CREATE TABLE IF NOT EXISTS destroyed_keys (
    owner        TEXT PRIMARY KEY,
    destroyed_ns INTEGER NOT NULL
);
