DROP TABLE supervisor_leases;
