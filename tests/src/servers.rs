//! The backing servers every broker under test shares: one ephemeral PostgreSQL cluster, one
//! Redis server and one Kafka-protocol broker, started once per test process on free loopback
//! ports. Since all suites run in one process, every test isolates itself by name ([`unique`]
//! ids, prefixes derived from them), never by owning a server.

use std::sync::OnceLock;

use broker::devservers::{PostgresServer, RedisServer, TansuServer};

use crate::TestApp;

/// The shared backing servers of this test process.
pub struct Servers {
    /// The PostgreSQL cluster behind the `postgresql` service (and the PostgreSQL state stores).
    pub postgres: PostgresServer,
    /// The Redis server behind the `redis` service.
    pub redis: RedisServer,
    /// The Kafka-protocol broker behind the `kafka` service.
    pub kafka: TansuServer,
}

/// Starts the backing servers once per process.
pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| Servers {
        postgres: PostgresServer::start().expect("starting the ephemeral PostgreSQL cluster"),
        redis: RedisServer::start().expect("starting the ephemeral Redis server"),
        kafka: TansuServer::start().expect("starting the ephemeral Kafka-protocol broker (tansu)"),
    })
}

/// A fresh unique id for a test's resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// An admin connection to the shared Redis server (to look at keys and ACL users directly).
pub async fn redis_admin() -> redis::aio::MultiplexedConnection {
    redis::Client::open(servers().redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A Redis URL and key prefix work: a real client writes a key under the prefix.
pub async fn redis_works(url: &str, prefix: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    redis::cmd("SET")
        .arg(format!("{prefix}k"))
        .arg("v")
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| e.to_string())
}

/// Runs blocking work (starting or stopping a server) off the test's runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// A broker whose state store is a PostgreSQL server of the caller's own (to stop and restart
/// under it), and that server.
pub async fn broker_on_own_state_store() -> (TestApp, PostgresServer) {
    let pg = blocking(|| PostgresServer::start().expect("starting a PostgreSQL server")).await;
    let (admin, conn) = tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin.batch_execute("CREATE DATABASE state").await.unwrap();
    let app = TestApp::spawn_with(crate::Options {
        state_url: Some(pg.url("state")),
        ..crate::Options::default()
    })
    .await;
    (app, pg)
}

/// A process's resident memory now and at its peak, in KiB (`/proc/PID/status`).
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}
