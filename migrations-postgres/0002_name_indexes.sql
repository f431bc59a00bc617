-- The twin of SQLite's 0013 (indexes on lower(name)): PostgreSQL's schema has had
-- them since 0001, so nothing changes here; the file keeps both folders' changes
-- side by side.
SELECT 1;
