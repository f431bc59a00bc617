-- How the proxy reaches a service (its routes and balancing), as JSON. Not part of
-- a revision: changing it moves no replica.
ALTER TABLE services ADD COLUMN proxy TEXT NOT NULL DEFAULT '{}';
