//! Ephemeral backing servers on free loopback ports, for `broker dev`, the test harness and the
//! benchmarks: a PostgreSQL cluster made with `initdb` in a temporary directory.
//!
//! Each server gets a reaper: a small shell process that waits for the owning process to exit,
//! however it exits (even `kill -9`), then stops the server and removes its directory, so
//! nothing is left running behind a crashed test run.

mod postgres;
mod process;
mod redis;
mod tansu;

pub use postgres::{postgres_bin_dir, PostgresServer};
pub use process::{free_port, scratch_dir, spawn_reaper, Reaper};
pub use redis::RedisServer;
pub use tansu::{tansu_bin, TansuServer};
