-- Settings of this Berth instance, one row per key. The instance id is made once,
-- when the database is created.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

INSERT INTO settings (key, value, updated_at)
VALUES ('instance_id', lower(hex(randomblob(16))), unixepoch() * 1000);
