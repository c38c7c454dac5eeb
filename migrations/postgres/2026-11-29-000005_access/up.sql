-- Who may use an app: its owner (a person, or a team), collaborators, team members; and the
-- bearer tokens people hold, recorded so that they can be listed and revoked.
ALTER TABLE apps ADD COLUMN team_id TEXT;
CREATE INDEX apps_owner ON apps (owner);
CREATE INDEX apps_team ON apps (team_id);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    id         TEXT PRIMARY KEY NOT NULL,
    team_id    TEXT NOT NULL REFERENCES teams (id),
    person     TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (team_id, person)
);
CREATE INDEX team_members_person ON team_members (person);

CREATE TABLE collaborators (
    id         TEXT PRIMARY KEY NOT NULL,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    person     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (app_id, person)
);
CREATE INDEX collaborators_person ON collaborators (person);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    person      TEXT NOT NULL,
    scope       TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    revoked_by  TEXT
);
CREATE INDEX tokens_person ON tokens (person);
