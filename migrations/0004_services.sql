-- Services: what should run. A service belongs to a team and points at its current
-- revision; every change of its spec adds an immutable revision (the history that
-- rollouts and rollbacks use). The replica count is not part of a revision: scaling
-- is not a rollout. What runs is observed from Docker's labels, not stored.

CREATE TABLE services (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    team_id    INTEGER NOT NULL REFERENCES teams (id) ON DELETE RESTRICT,
    replicas   INTEGER NOT NULL CHECK (replicas >= 0),
    revision   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX services_team ON services (team_id);

CREATE TABLE revisions (
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    number     INTEGER NOT NULL,
    spec       TEXT NOT NULL,
    spec_hash  TEXT NOT NULL,
    author     TEXT NOT NULL,
    message    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (service_id, number)
) STRICT;
