-- The buildpacks an app's builds run, in order (Heroku's buildpack installations). An app with
-- none detects among the built-in ones.
CREATE TABLE buildpack_installations (
    app_id     TEXT NOT NULL REFERENCES apps (id),
    ordinal    INTEGER NOT NULL,
    url        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, ordinal)
);
