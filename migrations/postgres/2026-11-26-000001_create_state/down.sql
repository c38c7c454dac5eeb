DROP TABLE audit_log;
DROP TABLE operations;
DROP TABLE bindings;
DROP TABLE instances;
