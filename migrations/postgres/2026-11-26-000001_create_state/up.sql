-- Broker state: instances, bindings, the operation journal and the audit log.
-- Times are milliseconds since the Unix epoch (BIGINT) so both backends store them alike.
CREATE TABLE instances (
    id                  TEXT PRIMARY KEY NOT NULL,
    service_id          TEXT NOT NULL,
    plan_id             TEXT NOT NULL,
    parameters          TEXT NOT NULL,
    context             TEXT NOT NULL,
    organization_guid   TEXT NOT NULL,
    space_guid          TEXT NOT NULL,
    maintenance_version TEXT,
    dashboard_url       TEXT,
    state               TEXT NOT NULL,
    active_operation_id TEXT,
    last_operation_id   TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE bindings (
    id                  TEXT PRIMARY KEY NOT NULL,
    instance_id         TEXT NOT NULL REFERENCES instances (id),
    service_id          TEXT NOT NULL,
    plan_id             TEXT NOT NULL,
    parameters          TEXT NOT NULL,
    context             TEXT NOT NULL,
    bind_resource       TEXT NOT NULL,
    credentials         BYTEA,
    state               TEXT NOT NULL,
    active_operation_id TEXT,
    last_operation_id   TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX bindings_instance ON bindings (instance_id);

CREATE TABLE operations (
    id               TEXT PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    instance_id      TEXT NOT NULL,
    binding_id       TEXT,
    state            TEXT NOT NULL,
    description      TEXT,
    request          TEXT NOT NULL,
    poll_token       TEXT,
    attempts         INTEGER NOT NULL,
    due_at           BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX operations_due ON operations (state, due_at);
CREATE INDEX operations_instance ON operations (instance_id);

CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY NOT NULL,
    at         BIGINT NOT NULL,
    request_id TEXT,
    actor      TEXT,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
