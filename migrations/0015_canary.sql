-- A canary rollout's step (server/src/rollout.rs): the step under way (from 0;
-- past the last once promoted through them all), and when its new replicas were
-- all ready (its pause counts from then; NULL until they are).
ALTER TABLE rollouts ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN step_ready_at INTEGER;
