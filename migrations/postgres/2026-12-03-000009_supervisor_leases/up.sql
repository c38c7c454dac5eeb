-- Who supervises a dyno runtime's dynos: exactly one broker at a time per runtime name
-- (`runtime.name`), holding the row until `expires_at` (ms) and renewing it while it lives.
-- Another replica takes the row over only once it has expired, so two supervisors never
-- start the same formation twice.
CREATE TABLE supervisor_leases (
    runtime    TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
