-- Tenancy: identities that never repeat, events that belong to a service (and its
-- team), domains a team's routes may use, team secrets encrypted at rest, and
-- tokens that die with the token that made them.

-- Every service id ever given, never reused (AUTOINCREMENT): a new service of an
-- old name gets a new id, so leftovers labelled with the old id (containers,
-- volumes) are never adopted by it. Rows stay when a service is deleted.
CREATE TABLE service_ids (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL COLLATE NOCASE,
    -- NULL once the team is gone (team ids can be given again).
    team_id    INTEGER,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX service_ids_name ON service_ids (name);
INSERT INTO service_ids (id, name, team_id, created_at)
SELECT id, name, team_id, created_at FROM services;
-- Services deleted before this migration are not in the table, and their ids may
-- be above today's highest (SQLite gave the highest id again after a deletion):
-- new ids start a million above it, past any id their leftovers (containers,
-- volumes) can carry.
DELETE FROM sqlite_sequence WHERE name = 'service_ids';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'service_ids', COALESCE(MAX(id), 0) + 1000000 FROM services;

-- Events name the service by id and its team, so that a new service of an old name
-- starts with no history and members read only their teams' events.
ALTER TABLE events ADD COLUMN service_id INTEGER;
ALTER TABLE events ADD COLUMN team_id INTEGER;
-- Only events since the service of that name was made: older ones were about a
-- deleted service of the same name, and stay an admin's to read.
UPDATE events
SET service_id = (SELECT s.id FROM services s WHERE s.name = events.subject AND events.at >= s.created_at),
    team_id = (SELECT s.team_id FROM services s WHERE s.name = events.subject AND events.at >= s.created_at)
WHERE kind = 'service';
CREATE INDEX events_service ON events (service_id, id);

-- Domains an admin gave a team: `shop.example.com` (that name) or
-- `*.shop.example.com` (every name under it). A team's routes must lie in them;
-- no two teams' domains overlap.
CREATE TABLE team_domains (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    domain     TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX team_domains_team ON team_domains (team_id);

-- Team secrets: write-only values, AES-256-GCM encrypted at rest. Every version is
-- kept (a revision names the version it runs with, so a rollback brings its own);
-- a deleted secret keeps its row (and version count) so that its versions are
-- never given to a new secret of the same name.
CREATE TABLE secrets (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    deleted_at INTEGER,
    UNIQUE (team_id, name)
) STRICT;

CREATE TABLE secret_versions (
    secret_id  INTEGER NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (secret_id, version)
) STRICT;

-- A token made with another token cannot outlive it: revoking the maker revokes
-- what it made.
ALTER TABLE api_tokens ADD COLUMN parent_id INTEGER REFERENCES api_tokens (id) ON DELETE CASCADE;
