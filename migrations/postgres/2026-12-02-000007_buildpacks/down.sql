DROP TABLE buildpack_installations;
