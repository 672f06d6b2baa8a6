-- 0001_init: the hub's tables. A migration is a text/template rendered by
-- migrate.go: the table action gives the table the data lives in (x, or
-- x_local on a cluster), engine its engine (E, or the Replicated form of E),
-- onCluster is empty or ON CLUSTER <cluster>, and distributed is nothing on
-- one server, or the Distributed table x over x_local on a cluster.
--
-- Every statement is idempotent (IF NOT EXISTS), so that two hubs migrating
-- at once, or a migration retried after a failure, do no harm. Types are
-- those of ClickHouse 18.16 and every release since: String, Int64, UInt64,
-- Date, Array(String). No TTL: retention is an operator's decision (six
-- years or more for the audit log; see doc.go).

-- Sealed records. clear is the JSON of the resource's non-PHI elements,
-- fields the JSON object of element name -> base64 ciphertext (as
-- store/sqlite keeps it), codes the JSON list of codings. stored_date is
-- the UTC date of the commit (one per batch, so a batch is one part).
CREATE TABLE IF NOT EXISTS {{table "records"}} {{onCluster}} (
    id          String,
    idem_key    String,
    patient_id  String,
    type        String,
    source      String,
    message_id  String,
    labels      Array(String),
    codes       String,
    clear       String,
    fields      String,
    received_ns Int64,
    stored_ns   Int64,
    stored_date Date
) ENGINE = {{engine "records" "MergeTree()"}}
PARTITION BY toYYYYMM(stored_date)
ORDER BY (patient_id, type, received_ns, id);
{{distributed "records" "cityHash64(patient_id)"}}

-- Consent directive versions; the latest version of each directive id wins
-- (version is the store's monotonic commit order).
CREATE TABLE IF NOT EXISTS {{table "consents"}} {{onCluster}} (
    idem_key    String,
    id          String,
    patient_id  String,
    directive   String,
    version     Int64,
    stored_date Date
) ENGINE = {{engine "consents" "MergeTree()"}}
PARTITION BY toYYYYMM(stored_date)
ORDER BY (patient_id, id, version);
{{distributed "consents" "cityHash64(patient_id)"}}

-- Patient-index links: identifier hash -> enterprise patient id. The first
-- link of a hash wins: the row with the least (linked_ns, patient_id).
CREATE TABLE IF NOT EXISTS {{table "patient_links"}} {{onCluster}} (
    id_hash     String,
    patient_id  String,
    linked_ns   Int64,
    linked_date Date
) ENGINE = {{engine "patient_links" "MergeTree()"}}
PARTITION BY toYYYYMM(linked_date)
ORDER BY id_hash
SETTINGS index_granularity = 1024;
{{distributed "patient_links" "cityHash64(id_hash)"}}

-- Wrapped data keys, as an append-only log of operations per owner:
-- 'put' (PutWrappedIfAbsent: the first put wins), 'replace' (re-wrapped
-- key: the latest replace wins over the put) and 'destroy' (a tombstone
-- that wins over everything: the owner reads as absent for ever).
CREATE TABLE IF NOT EXISTS {{table "data_keys"}} {{onCluster}} (
    owner   String,
    op      String,
    wrapped String,
    version Int64,
    op_date Date
) ENGINE = {{engine "data_keys" "MergeTree()"}}
PARTITION BY toYYYYMM(op_date)
ORDER BY (owner, version)
SETTINGS index_granularity = 1024;
{{distributed "data_keys" "cityHash64(owner)"}}

-- The audit log's table of record: the hub writes here, in chain order, and
-- verification reads here by (shard, seq). Every hashed field is stored
-- exactly (time in nanoseconds, lists as arrays), so the chain verifies
-- from these rows alone. event_date is the UTC date the hub logged the
-- event (one per insert, so an insert is one part, all or nothing).
CREATE TABLE IF NOT EXISTS {{table "audit_chain"}} {{onCluster}} (
    shard           String,
    seq             UInt64,
    id              String,
    time_ns         Int64,
    code            String,
    action          String,
    outcome         String,
    actor_id        String,
    actor_roles     Array(String),
    actor_org       String,
    application     String,
    purpose         String,
    patient_id      String,
    record_type     String,
    record_ids      Array(String),
    disclosed       Array(String),
    masked          Array(String),
    policy_revision String,
    rules           Array(String),
    consents        Array(String),
    reason          String,
    request_id      String,
    idem_key        String,
    prev_hash       String,
    hash            String,
    event_date      Date
) ENGINE = {{engine "audit_chain" "MergeTree()"}}
PARTITION BY toYYYYMM(event_date)
ORDER BY (shard, seq);
{{distributed "audit_chain" "cityHash64(shard)"}}

-- "Who accessed patient X": the same events ordered by patient, filled by
-- a materialized view from audit_chain within the same INSERT.
CREATE TABLE IF NOT EXISTS {{table "audit_events"}} {{onCluster}} (
    shard           String,
    seq             UInt64,
    id              String,
    time_ns         Int64,
    code            String,
    action          String,
    outcome         String,
    actor_id        String,
    actor_roles     Array(String),
    actor_org       String,
    application     String,
    purpose         String,
    patient_id      String,
    record_type     String,
    record_ids      Array(String),
    disclosed       Array(String),
    masked          Array(String),
    policy_revision String,
    rules           Array(String),
    consents        Array(String),
    reason          String,
    request_id      String,
    idem_key        String,
    prev_hash       String,
    hash            String,
    event_date      Date
) ENGINE = {{engine "audit_events" "MergeTree()"}}
PARTITION BY toYYYYMM(event_date)
ORDER BY (patient_id, time_ns, id);
{{distributed "audit_events" "cityHash64(patient_id)"}}

-- "What did actor Y access": the same events ordered by actor.
CREATE TABLE IF NOT EXISTS {{table "audit_by_actor"}} {{onCluster}} (
    shard           String,
    seq             UInt64,
    id              String,
    time_ns         Int64,
    code            String,
    action          String,
    outcome         String,
    actor_id        String,
    actor_roles     Array(String),
    actor_org       String,
    application     String,
    purpose         String,
    patient_id      String,
    record_type     String,
    record_ids      Array(String),
    disclosed       Array(String),
    masked          Array(String),
    policy_revision String,
    rules           Array(String),
    consents        Array(String),
    reason          String,
    request_id      String,
    idem_key        String,
    prev_hash       String,
    hash            String,
    event_date      Date
) ENGINE = {{engine "audit_by_actor" "MergeTree()"}}
PARTITION BY toYYYYMM(event_date)
ORDER BY (actor_id, time_ns, id);
{{distributed "audit_by_actor" "cityHash64(actor_id)"}}

-- Idempotency keys of records, consent versions and keyed audit events,
-- ordered by key so that "which of these keys are stored" reads a few
-- granules. Filled by the materialized views below.
CREATE TABLE IF NOT EXISTS {{table "idem_keys"}} {{onCluster}} (
    kind        String,
    idem_key    String,
    stored_date Date
) ENGINE = {{engine "idem_keys" "MergeTree()"}}
PARTITION BY toYYYYMM(stored_date)
ORDER BY (kind, idem_key)
SETTINGS index_granularity = 1024;
{{distributed "idem_keys" "cityHash64(idem_key)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view "audit_events_mv"}} {{onCluster}}
TO {{table "audit_events"}} AS
SELECT shard, seq, id, time_ns, code, action, outcome, actor_id, actor_roles, actor_org, application,
       purpose, patient_id, record_type, record_ids, disclosed, masked, policy_revision, rules, consents,
       reason, request_id, idem_key, prev_hash, hash, event_date
FROM {{table "audit_chain"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view "audit_by_actor_mv"}} {{onCluster}}
TO {{table "audit_by_actor"}} AS
SELECT shard, seq, id, time_ns, code, action, outcome, actor_id, actor_roles, actor_org, application,
       purpose, patient_id, record_type, record_ids, disclosed, masked, policy_revision, rules, consents,
       reason, request_id, idem_key, prev_hash, hash, event_date
FROM {{table "audit_chain"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view "records_keys_mv"}} {{onCluster}}
TO {{table "idem_keys"}} AS
SELECT 'record' AS kind, idem_key, stored_date
FROM {{table "records"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view "consents_keys_mv"}} {{onCluster}}
TO {{table "idem_keys"}} AS
SELECT 'consent' AS kind, idem_key, stored_date
FROM {{table "consents"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view "audit_keys_mv"}} {{onCluster}}
TO {{table "idem_keys"}} AS
SELECT 'audit' AS kind, idem_key, event_date AS stored_date
FROM {{table "audit_chain"}}
WHERE idem_key != '';
