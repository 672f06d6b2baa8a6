-- Applied before the numbered migrations every time Migrate runs: the
-- database, and the table that records which migrations were applied (a
-- version may be recorded twice by two concurrent migrators; readers take
-- the set).
CREATE DATABASE IF NOT EXISTS {{database}} {{onCluster}};

CREATE TABLE IF NOT EXISTS {{table "schema_migrations"}} {{onCluster}} (
    version      UInt64,
    name         String,
    applied_ns   Int64,
    applied_date Date
) ENGINE = {{engine "schema_migrations" "MergeTree()"}}
PARTITION BY toYYYYMM(applied_date)
ORDER BY version;
{{distributed "schema_migrations" "version"}}
