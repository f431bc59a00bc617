-- Rollouts: moving a service's replicas from one revision to another, by deploy,
-- by a person's rollback, or by Berth after a failure. What each replica runs is
-- observed from Docker; what is stored is the rollout's decision and state, so a
-- restarted Berth resumes where it was.
CREATE TABLE rollouts (
    id            INTEGER PRIMARY KEY,
    service_id    INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    from_revision INTEGER NOT NULL,
    to_revision   INTEGER NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback', 'auto_rollback')),
    state         TEXT NOT NULL CHECK (state IN ('running', 'paused', 'succeeded', 'rolled_back', 'aborted')),
    reason        TEXT NOT NULL DEFAULT '',
    author        TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    -- When the last batch turned healthy, and how many replicas of the new
    -- revision were ready then: the next batch waits for the monitor window and
    -- the delay from here.
    batch_done_at INTEGER,
    batch_ready   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX rollouts_service ON rollouts (service_id, id);
