//! The backing servers every broker under test shares: one ephemeral PostgreSQL cluster, one
//! Redis server and one Kafka-protocol broker, started once per test process on free loopback
//! ports. Since all suites run in one process, every test isolates itself by name ([`unique`]
//! ids, prefixes derived from them), never by owning a server.

use std::sync::OnceLock;

use broker::devservers::{PostgresServer, RedisServer, TansuServer};

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
