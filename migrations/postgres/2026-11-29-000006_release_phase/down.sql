DROP INDEX releases_pending;
