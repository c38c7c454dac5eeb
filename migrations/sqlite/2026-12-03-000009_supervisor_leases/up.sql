-- Who supervises a dyno runtime's dynos: exactly one broker at a time per runtime name
-- (`runtime.name`), holding the row until `expires_at` (ms) and renewing it while it lives;
-- `url` is where the other replicas send dyno requests (the holder's API).
-- Another replica takes the row over only once it has expired, so two supervisors never
-- start the same formation twice.
CREATE TABLE supervisor_leases (
    runtime    TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    url        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The broker run that runs a build (its lease owner), so that a restarted broker fails only
-- the builds its own previous run left, not those another replica is running.
ALTER TABLE builds ADD COLUMN runner TEXT;
