ALTER TABLE releases DROP COLUMN slug_id;
DROP TABLE formations;
DROP TABLE builds;
DROP TABLE slugs;
