-- Third-party providers: registered partners and federated OSB brokers, the config a partner
-- sets on its add-ons, and the callback signatures already accepted (replay protection).
CREATE TABLE marketplace_providers (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    state         TEXT NOT NULL,
    spec          BLOB NOT NULL,
    catalog       TEXT,
    registered_by TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE instance_configs (
    instance_id TEXT PRIMARY KEY NOT NULL REFERENCES instances (id),
    config      BLOB NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE callback_nonces (
    provider_id TEXT NOT NULL,
    mac         TEXT NOT NULL,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (provider_id, mac)
);
CREATE INDEX callback_nonces_seen ON callback_nonces (seen_at);
