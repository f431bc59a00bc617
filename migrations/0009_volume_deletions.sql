-- Deleting a deleted service's volumes is desired state, not a task in memory: the
-- time it was asked for stays here until no registered host holds any of them, so
-- a restart of Berth (or a host that does not answer for a while) does not forget
-- it. NULL: nothing to delete.
ALTER TABLE service_ids ADD COLUMN delete_volumes_since INTEGER;
CREATE INDEX service_ids_volumes ON service_ids (delete_volumes_since)
    WHERE delete_volumes_since IS NOT NULL;
