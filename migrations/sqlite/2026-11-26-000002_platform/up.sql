-- The platform API: apps, their releases (config snapshots, sealed), add-ons and attachments.
CREATE TABLE apps (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    owner      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE releases (
    id               TEXT PRIMARY KEY NOT NULL,
    app_id           TEXT NOT NULL REFERENCES apps (id),
    version          INTEGER NOT NULL,
    description      TEXT NOT NULL,
    config           BLOB NOT NULL,
    addon_plan_names TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_by       TEXT,
    created_at       BIGINT NOT NULL,
    UNIQUE (app_id, version)
);

CREATE TABLE addons (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    app_id     TEXT NOT NULL,
    service    TEXT NOT NULL,
    plan       TEXT NOT NULL,
    config     TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX addons_app ON addons (app_id);

CREATE TABLE addon_attachments (
    id         TEXT PRIMARY KEY NOT NULL,
    addon_id   TEXT NOT NULL,
    app_id     TEXT NOT NULL,
    name       TEXT NOT NULL,
    state      TEXT NOT NULL,
    vars       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (app_id, name)
);
CREATE INDEX addon_attachments_addon ON addon_attachments (addon_id);
