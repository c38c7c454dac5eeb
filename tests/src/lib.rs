//! The test harness: real backing servers, started once per test process on free loopback
//! ports, and the real broker binary run as a subprocess over real HTTP. All suites run in one
//! test binary (`tests/tests/main.rs`), so they share one process and its servers.
//!
//! - [`servers`] starts an ephemeral PostgreSQL cluster, a Redis server and a Kafka-protocol
//!   broker (shared by every test of the process; each test isolates itself by id).
//! - [`app`]: [`TestApp`] runs `broker serve` on port 0 against a fresh state store: SQLite by
//!   default, PostgreSQL when `BROKER_TEST_STATE=postgres` (CI runs both).
//! - [`osb`]: [`Osb`], a typed OSB client; [`api`]: [`Api`], the platform API client, and
//!   [`Reply`], what both return.
//! - [`pg`], [`kafka`]: the backing servers seen from the test's side.
//! - [`dynos`]: archives, formation and dyno helpers; [`partner`]: a reference third-party
//!   provider; [`git`]: a git work tree of the sample app, and raw HTTP for hostile paths.
//! - [`packages`]: the buildpack tests' package sources on loopback (a PEP 503 Python index,
//!   an npm registry) and their example Python and Node.js apps.
//!
//! The benchmarks (`src/bin/bench`) use this harness too; what only they need lives with them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod app;
pub mod cli;
pub mod containers;
pub mod dynos;
pub mod git;
pub mod kafka;
pub mod osb;
pub mod packages;
pub mod partner;
pub mod pg;
pub mod router;
pub mod servers;

pub use api::{Api, Reply};
pub use app::{broker_bin, Options, StateBackend, TestApp, JWT_SECRET, TEST_CGROUP};
pub use cli::{CliUser, Ran};
pub use containers::runtime_at;
pub use osb::{encode, Osb, PlanRef};
pub use pg::{connect_with_uri, pg_connect, PgInspector};
pub use servers::{
    blocking, broker_on_own_state_store, memory_kib, redis_admin, redis_works, servers, unique, Servers,
};
