//! The integration tests: one binary, one module per suite (the files beside this one), so that
//! the broker and librdkafka are linked once rather than once per suite.
//!
//! All suites share this process and so the harness's backing servers (one PostgreSQL cluster,
//! one Redis, one Kafka-protocol broker): a test isolates itself by name (`unique` ids and the
//! prefixes derived from them) and never assumes a server, a cgroup or the environment to itself.
//! Run one suite with `cargo test -p addon-broker-tests osb_api::`.

mod access;
mod cli;
mod conformance;
mod crash_resume;
mod dev_command;
mod dynos;
mod git;
mod kafka_topics;
mod marketplace;
mod openapi;
mod osb_api;
mod packages;
mod platform_api;
mod recovery;
mod redis_adapter;
mod router;
mod secrets_in_logs;
mod state_store;
