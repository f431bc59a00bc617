-- Host pools: where Berth gets a new host when no registered host has room for a
-- waiting replica, and which hosts it made. A pool names a provider (a command the
-- admin chose), the labels and capacity of one new host, and its bounds. A pool
-- host is recorded (state 'creating') before its provider is called, so that a
-- restarted Berth knows of every machine it may have asked for and can destroy it.
CREATE TABLE pools (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE COLLATE NOCASE,
    provider        TEXT NOT NULL,
    labels          TEXT NOT NULL DEFAULT '{}',
    cpu_millis      INTEGER NOT NULL CHECK (cpu_millis > 0),
    memory_bytes    INTEGER NOT NULL CHECK (memory_bytes > 0),
    min_hosts       INTEGER NOT NULL CHECK (min_hosts >= 0),
    max_hosts       INTEGER NOT NULL CHECK (max_hosts >= min_hosts),
    idle_ms         INTEGER NOT NULL CHECK (idle_ms > 0),
    boot_timeout_ms INTEGER NOT NULL CHECK (boot_timeout_ms > 0),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- One row per machine a pool asked for, from the request until it is destroyed.
-- host_id is the registered host once its engine answered.
CREATE TABLE pool_hosts (
    id           INTEGER PRIMARY KEY,
    pool_id      INTEGER NOT NULL REFERENCES pools (id),
    name         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    state        TEXT NOT NULL
                 CHECK (state IN ('creating', 'booting', 'ready', 'draining', 'destroying')),
    endpoint     TEXT,
    answer       TEXT,
    host_id      INTEGER,
    requested_at INTEGER NOT NULL,
    state_since  INTEGER NOT NULL,
    last_error   TEXT
) STRICT;
CREATE INDEX pool_hosts_pool ON pool_hosts (pool_id);
