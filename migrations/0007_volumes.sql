-- Volumes: where each replica slot of a service with per-replica volumes keeps its
-- data. The volumes themselves live on the hosts (Docker volumes labelled with
-- their service and slot); Berth remembers the host, so that the slot is started
-- there again and nowhere else until an admin moves it.
CREATE TABLE replica_homes (
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    slot       INTEGER NOT NULL CHECK (slot > 0),
    host_id    INTEGER NOT NULL,
    since      INTEGER NOT NULL,
    PRIMARY KEY (service_id, slot)
) STRICT;
