-- The dyno runtime: slugs (an app's code, unpacked under the data directory), builds, the
-- formation (quantity and size per process type), and the slug a release pins.
CREATE TABLE slugs (
    id             TEXT PRIMARY KEY NOT NULL,
    app_id         TEXT NOT NULL REFERENCES apps (id),
    process_types  TEXT NOT NULL,
    size           BIGINT NOT NULL,
    checksum       TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE builds (
    id              TEXT PRIMARY KEY NOT NULL,
    app_id          TEXT NOT NULL REFERENCES apps (id),
    status          TEXT NOT NULL,
    slug_id         TEXT,
    release_version INTEGER,
    output          TEXT NOT NULL,
    created_by      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE formations (
    id           TEXT PRIMARY KEY NOT NULL,
    app_id       TEXT NOT NULL REFERENCES apps (id),
    process_type TEXT NOT NULL,
    quantity     INTEGER NOT NULL,
    size         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (app_id, process_type)
);

ALTER TABLE releases ADD COLUMN slug_id TEXT;
