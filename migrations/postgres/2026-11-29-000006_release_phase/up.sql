-- Releases waiting for their release phase: the dyno manager looks for them every tick.
CREATE INDEX releases_pending ON releases (app_id, version) WHERE status = 'pending';
