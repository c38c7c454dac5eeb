DROP TABLE callback_nonces;
DROP TABLE instance_configs;
DROP TABLE marketplace_providers;
