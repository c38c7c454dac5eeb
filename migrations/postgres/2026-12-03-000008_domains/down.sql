DROP TABLE domains;
