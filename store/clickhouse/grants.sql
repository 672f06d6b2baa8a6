-- Access for CareCrest Hub on ClickHouse: the hub's user may INSERT and
-- SELECT in the hub's database and nothing else; schema changes and purges
-- run as an administrator. Replace carecrest (database), hub and hub_admin
-- (users) and the passwords with yours. This file is documentation: the
-- hub never runs it.

-- ---------------------------------------------------------------------
-- Current ClickHouse releases (SQL access control, 20.5 and later).
-- ---------------------------------------------------------------------

CREATE USER IF NOT EXISTS hub IDENTIFIED WITH sha256_password BY 'change-me'
    HOST IP '10.0.0.0/8' DEFAULT DATABASE carecrest;
GRANT INSERT, SELECT ON carecrest.* TO hub;
-- The store waits for a failed audit INSERT to leave the process list
-- before it reads what the INSERT left; every user sees its own queries
-- there without a grant. Nothing else: no ALTER, no DROP, no TRUNCATE, no
-- access to other databases.

CREATE USER IF NOT EXISTS hub_admin IDENTIFIED WITH sha256_password BY 'change-me-too'
    HOST IP '10.0.0.0/8';
GRANT CREATE DATABASE, CREATE TABLE, CREATE VIEW, DROP TABLE, DROP VIEW ON carecrest.* TO hub_admin;
GRANT INSERT, SELECT, ALTER UPDATE, ALTER DELETE, ALTER DROP PARTITION ON carecrest.* TO hub_admin;
-- With a cluster, add ON CLUSTER <cluster> to each statement and grant
-- CLUSTER (distributed DDL) to hub_admin:
-- GRANT CLUSTER ON *.* TO hub_admin;

-- ---------------------------------------------------------------------
-- ClickHouse 18.16 (Debian bookworm): no GRANT; users and profiles live in
-- users.xml (or a file under users.d/). The hub's profile sets
-- allow_ddl = 0: INSERT and SELECT work, while CREATE, DROP, TRUNCATE,
-- RENAME and every ALTER (including ALTER ... UPDATE / DELETE mutations)
-- fail with "DDL queries are prohibited for the user", and the user cannot
-- SET allow_ddl back (TestHubNeedsNoDDL checks this on the server).
-- allow_databases limits the user to the hub's database. readonly is NOT
-- the tool here: readonly = 1 and readonly = 2 both forbid INSERT.
-- ---------------------------------------------------------------------
--
-- <yandex>
--   <profiles>
--     <hub>
--       <readonly>0</readonly>
--       <allow_ddl>0</allow_ddl>
--       <max_memory_usage>10000000000</max_memory_usage>
--     </hub>
--   </profiles>
--   <users>
--     <hub>
--       <password_sha256_hex><!-- echo -n 'change-me' | sha256sum --></password_sha256_hex>
--       <networks><ip>10.0.0.0/8</ip></networks>
--       <profile>hub</profile>
--       <quota>default</quota>
--       <allow_databases><database>carecrest</database></allow_databases>
--     </hub>
--     <hub_admin>
--       <password_sha256_hex>...</password_sha256_hex>
--       <networks><ip>10.0.0.0/8</ip></networks>
--       <profile>default</profile>
--       <quota>default</quota>
--       <allow_databases><database>carecrest</database></allow_databases>
--     </hub_admin>
--   </users>
-- </yandex>
--
-- What 18.16 cannot express: "INSERT but no INSERT into table X" or
-- per-table SELECT. The hub's user can insert into every table of its
-- database (a forged audit row is then what the hash chain detects).
-- Run Migrate (and PurgeDestroyed) as hub_admin, and the hub as hub.
