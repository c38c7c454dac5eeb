ALTER TABLE builds DROP COLUMN runner;
DROP TABLE supervisor_leases;
