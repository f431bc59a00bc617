-- Names compare without case as lower(name) = lower($1), the one query text for
-- SQLite and PostgreSQL; SQLite's NOCASE indexes do not serve that expression,
-- these do (PostgreSQL's schema has them from its first migration).
CREATE INDEX users_username_lower ON users (lower(username));
CREATE INDEX hosts_name_lower ON hosts (lower(name));
CREATE INDEX services_name_lower ON services (lower(name));
CREATE INDEX service_ids_name_lower ON service_ids (lower(name));
CREATE INDEX pools_name_lower ON pools (lower(name));
CREATE INDEX volume_classes_name_lower ON volume_classes (lower(name));
