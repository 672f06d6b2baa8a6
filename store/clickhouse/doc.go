// Package clickhouse is the production backend of the hub's durable state:
// sealed records, consent versions, patient-index links, wrapped data keys
// and the hash-chained audit log, in ClickHouse. It implements the same
// contracts as store/sqlite (store.Committer, RecordReader, ConsentReader,
// audit.Appender, Querier, ChainReader, keys.WrappedStore,
// BatchWrappedStore, MaintainedStore, mpi.Links) and passes the same
// conformance suite (store/storetest). It runs on ClickHouse 18.16 (Debian
// bookworm's package) and on current releases: the schema uses only String,
// Int64, UInt64, Date and Array(String) columns, MergeTree-family engines
// and materialized views, and every INSERT names its columns.
//
// # Tables
//
// Schema changes are embedded migrations (migrations/NNNN_name.sql),
// applied by Migrate and recorded in schema_migrations; Open refuses a
// database that lacks one. Every table is partitioned by month of a Date
// column that is the same for every row of one insert (the UTC date of the
// write), so an insert is one part per table: all of it is stored or none.
//
//	records          ORDER BY (patient_id, type, received_ns, id)   a patient's records
//	consents         ORDER BY (patient_id, id, version)             latest version per directive
//	patient_links    ORDER BY id_hash                               first link wins
//	data_keys        ORDER BY (owner, version)                      put / replace / destroy log
//	audit_chain      ORDER BY (shard, seq)                          the audit log; verification
//	audit_events     ORDER BY (patient_id, time_ns, id)             who accessed patient X
//	audit_by_actor   ORDER BY (actor_id, time_ns, id)               what actor Y accessed
//	idem_keys        ORDER BY (kind, idem_key)                      idempotency keys
//
// # The audit log: one table of record, two copies by view
//
// The hub INSERTs audit events into audit_chain only, in chain order.
// Materialized views copy every block inserted there into audit_events,
// audit_by_actor and idem_keys (keyed events) as part of the same INSERT.
// Why views rather than the hub writing each table: the hub sends the
// events once; the server fills the other orderings for every writer
// (including an operator's); and the table the hub's chain head is read
// from, and that verification reads, is exactly the one the hub wrote, so
// "is this insert durable" has one answer. Each ordering serves one read
// path without sorting: Query reads audit_events when it filters by
// patient, audit_by_actor when by actor only; ReadChain reads audit_chain
// by (shard, seq) in ranges of positions, so verifying ten million events
// reads them in order, a page at a time, in flat memory. The cost is
// storing the log three times (compressed; the lists and codes compress
// well). Timestamps are Int64 nanoseconds and lists Array(String), so
// every hashed field is stored exactly and the chain verifies from
// ClickHouse rows alone.
//
// # Without transactions
//
// ClickHouse has no transactions and no unique keys. The contracts hold as
// follows.
//
// Idempotency is checked, then deduplicated on read. Under the Store's
// mutex, Commit and Append read which of the batch's keys idem_keys holds
// (one IN query per kind, on the table's sort key) and insert only the
// others, so within one instance a key is stored once and Result counts
// are exact. Two instances racing on the same redelivered message may both
// insert it; reads never show the copy: PatientRecords reads LIMIT 1 BY
// idem_key, Consents deduplicates by idem_key before taking the latest
// version, Query reads LIMIT 1 BY (shard, seq), LookupLinks takes the
// least (linked_ns, patient_id) per hash, and data keys the first put.
// A keyed audit event raced that way is in both instances' chains (each
// chain stays intact and verifies).
//
// A batch is written in order: records, consent versions, then audit
// events, each one block. A write, once begun, runs to its end under
// Config.WriteTimeout, detached from the caller's cancellation, so that a
// deadline never leaves half a batch. If an insert fails, Commit returns
// an error and the caller retries the batch: stored records and consents
// are skipped as duplicates, events appended, and the retry returns nil
// only when all of it is durable.
//
// The audit chain head (last seq and hash of this instance's shard) is
// read at Open. Events are linked and inserted under the mutex; the head
// moves only when the insert succeeded. When an INSERT fails its outcome
// is unknown (the server may have written the block before the connection
// broke), so the store settles it before anything else is appended: it
// waits until the INSERT's query id has left system.processes, reads which
// of the batch's positions audit_chain holds, and either finds none (the
// head stays), or some or all (it inserts the missing ones, writes the
// copies again in case the views missed them, and moves the head: the call
// then succeeds). If the server cannot be asked, the insert stays in doubt
// and every later write settles it first or fails: the chain never forks
// and never gets a hole from the hub. A shard must be written by one
// instance only (Config.Shard, set from the hub's instance name); settling
// detects a second writer and fails closed.
//
// What a compare-and-set would give and ClickHouse cannot: two instances
// that create the same patient link, or the same patient's data key, in
// the same instant both insert, and all later reads agree on one winner
// (least version), but an instance that read back its own before the
// other's insert landed may have used it in between. The hub keeps this
// window small (one round trip) and rare (new patients only, identical
// enterprise ids for identical identifiers); deployments that cannot
// accept it route key creation through one instance or keep wrapped keys in
// Vault.
//
// # Failing closed
//
// Every error wraps store.ErrUnavailable (and, from Append,
// audit.ErrUnavailable; keys.ErrDestroyed is an answer, not a failure).
// Error texts name the operation and the kind of failure only: a server
// exception contributes its code and name, never its message (which may
// quote the query and so the bound values), a client error its type.
//
// # Grants
//
// The hub's user needs INSERT and SELECT on its database and nothing else;
// Migrate and PurgeDestroyed run as an administrator. grants.sql has both
// forms:
//
//   - ClickHouse 18.16 has no SQL access control: users.xml gives the hub a
//     profile with allow_ddl = 0 (INSERT and SELECT work; CREATE, DROP,
//     TRUNCATE and every ALTER, mutations included, fail, and the user
//     cannot set allow_ddl back) and allow_databases listing the hub's
//     database. (readonly = 1 or 2 would forbid INSERT as well.)
//   - Current releases: CREATE USER hub ...; GRANT INSERT, SELECT ON
//     carecrest.* TO hub; and the administrator GRANT CREATE, ALTER
//     UPDATE, ALTER DELETE, DROP ON carecrest.* for migrations and purges.
//
// The audit log is append-only by the hub's grants, not by the schema: an
// administrator can ALTER it. The hash chain is what makes such changes
// detectable (hubctl audit verify), within its limits: events removed from
// the end of a shard and a consistently rewritten tail need the head
// anchored outside ClickHouse.
//
// # Retention
//
// Nothing expires by itself (no TTL in the schema): HIPAA asks six years
// for audit records, state law and hospital policy often longer. Retention
// is an operator's act on whole months: ALTER TABLE audit_chain DROP
// PARTITION 202001 (and the same month of audit_events, audit_by_actor) as
// an administrator, once the month is older than the retention period and
// archived if policy says so. Dropping the oldest months of a chain leaves
// it verifiable from the first remaining event only against a checkpoint:
// record the seq and hash of the last event dropped, per shard, before
// dropping (verification then starts from that head instead of genesis). Records and keys follow the record-retention policy; erasing a
// patient is DestroyWrapped (crypto-shredding) then PurgeDestroyed.
//
// # Cluster
//
// With Config.Cluster set, Migrate runs every statement ON CLUSTER and
// each table x becomes a ReplicatedMergeTree table x_local on every node,
// replicated through ZooKeeper (or ClickHouse Keeper) under
// /clickhouse/tables/{shard}/<db>/x_local with replica name {replica}
// (the {shard} and {replica} macros come from each node's config; this
// {shard} is ClickHouse's shard, not the hub's audit chain shard), plus a
// Distributed table x over the x_local tables. The hub reads and writes the
// Distributed tables, with insert_distributed_sync = 1 (an insert returns
// when every shard has stored its rows, not when they are queued) and, with
// Config.InsertQuorum, insert_quorum (that many replicas); the chain head
// is then read with select_sequential_consistency, never from a lagging
// replica. The materialized views connect the local tables, so a view
// fires on the node that received the rows.
//
// A typical topology: two or three shards of two replicas each (replicas
// in different racks or zones), a three-node ZooKeeper or Keeper ensemble
// beside them, and the remote_servers entry naming the cluster. Sharding
// keys: records and consents by patient (a patient's records on one
// shard), audit_chain by chain shard (each hub instance's chain on one
// shard, read in order there), links and keys by their key. The hub
// instances connect to the Distributed tables through any node (Config.Addr
// lists several for failover, or a load balancer). Migrations need the
// distributed DDL queue (ZooKeeper) to be healthy. The cluster DDL is
// generated from the same migrations as the single-server DDL
// (testdata/schema_cluster.sql is its golden rendering); a multi-node
// cluster is not part of the test suite.
package clickhouse
