-- Custom domains of apps (Heroku's domains): the router maps a request's Host onto the app
-- whose row names it. An app's default hostname ({app}.{router.domain}) is not a row.
-- `hostname` is stored lowercase, without a port or a trailing dot; one app per name.
-- Like the other tables of an app, rows are deleted with it (`App::delete`), which the
-- reference enforces: an app with a domain left cannot be deleted.
CREATE TABLE domains (
    id         TEXT PRIMARY KEY NOT NULL,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    hostname   TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX domains_app ON domains (app_id);
