-- Certificates the proxy serves over HTTPS, by host ('shop.example.com', or
-- '*.example.com' when uploaded). 'acme' rows are ordered and renewed by Berth's
-- certificate task, the one writer of their state, each write guarded on the
-- generation it read; 'uploaded' rows are a person's. The private key is sealed
-- with the secret key (bound to host and generation); the chain is public.
CREATE TABLE certificates (
    id           INTEGER PRIMARY KEY,
    host         TEXT NOT NULL UNIQUE,
    team_id      INTEGER REFERENCES teams(id) ON DELETE CASCADE,
    source       TEXT NOT NULL CHECK (source IN ('acme', 'uploaded')),
    state        TEXT NOT NULL CHECK (state IN ('valid', 'ordering', 'renewing', 'failed')),
    chain_pem    TEXT,
    key_nonce    BLOB,
    key_sealed   BLOB,
    issuer       TEXT,
    names        TEXT NOT NULL DEFAULT '[]',
    not_before   INTEGER,
    not_after    INTEGER,
    -- When the CA's renewal information (ARI) says to renew, and when to ask again.
    renew_at     INTEGER,
    ari_next     INTEGER,
    problem      TEXT,
    failures     INTEGER NOT NULL DEFAULT 0,
    last_attempt INTEGER,
    next_attempt INTEGER,
    generation   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- Berth's account with each ACME directory it used: the credentials (the account
-- key among them) sealed with the secret key, bound to the directory.
CREATE TABLE acme_accounts (
    directory  TEXT PRIMARY KEY,
    nonce      BLOB NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
