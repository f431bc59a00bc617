-- Several Berth instances on one database, one leader (server/src/leader).
-- The lease: who leads, until when (the database's clock, ms since the epoch),
-- and the term, the fencing number: raised whenever the lease changes hands;
-- every write of the leader's loops checks it in its transaction.
CREATE TABLE leader_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    term INTEGER NOT NULL DEFAULT 0,
    expires_at_ms INTEGER NOT NULL DEFAULT 0
);
INSERT INTO leader_lease (id, holder, term, expires_at_ms) VALUES (1, NULL, 0, 0);

-- Every instance that has run on this database, and when it was last seen.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    -- The last published state it took and drained (a follower).
    applied_version INTEGER NOT NULL DEFAULT 0
);

-- What the leader last published for the others' proxies and pages (JSON).
CREATE TABLE published_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    term INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
