-- Volume classes: an admin's named choice of a Docker volume driver, its options
-- and where the data lives ('host': on the host that made it; 'global': the
-- driver attaches it on any host). A service's volume names a class; the teams
-- that may do so are listed by id (a deleted team's id names no one).
CREATE TABLE volume_classes (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    driver     TEXT NOT NULL,
    options    TEXT NOT NULL DEFAULT '{}',
    scope      TEXT NOT NULL CHECK (scope IN ('host', 'global')),
    team_ids   TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
