-- The twin of SQLite's 0014: the leader's lease with its term (the fencing
-- number), the instances, and the state the leader publishes for the others.
CREATE TABLE leader_lease (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    term BIGINT NOT NULL DEFAULT 0,
    expires_at_ms BIGINT NOT NULL DEFAULT 0
);
INSERT INTO leader_lease (id, holder, term, expires_at_ms) VALUES (1, NULL, 0, 0);

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    -- The last published state it took and drained (a follower).
    applied_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE published_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    term BIGINT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
