-- Docker hosts Berth runs containers on, and the events Berth records (a host going
-- down, a replica replaced, ...). What a host reports about itself (health,
-- capacity) is observed live and not stored; cordon and drain are decisions, and are.

CREATE TABLE hosts (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    endpoint   TEXT NOT NULL,
    address    TEXT NOT NULL,
    labels     TEXT NOT NULL DEFAULT '{}',
    tls_ca     TEXT,
    tls_cert   TEXT,
    tls_key    TEXT,
    cordoned   INTEGER NOT NULL DEFAULT 0 CHECK (cordoned IN (0, 1)),
    draining   INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    level   TEXT NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    message TEXT NOT NULL
) STRICT;
CREATE INDEX events_subject ON events (kind, subject);
