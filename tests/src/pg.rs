//! PostgreSQL from the test's side: superuser connections to the shared cluster, facts about it
//! ([`PgInspector`]), and connections with the credentials the broker hands out.

use crate::servers::servers;

/// Connects to a database of the shared cluster as superuser.
pub async fn pg_connect(database: &str) -> tokio_postgres::Client {
    let url = servers().postgres.url(database);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connecting to the test cluster");
    tokio::spawn(connection);
    client
}

/// Facts about the shared PostgreSQL server, read as superuser.
pub struct PgInspector {
    client: tokio_postgres::Client,
}

impl PgInspector {
    /// Connects to the shared cluster.
    pub async fn connect() -> PgInspector {
        PgInspector {
            client: pg_connect("postgres").await,
        }
    }

    /// Whether a database exists.
    pub async fn database_exists(&self, name: &str) -> bool {
        self.client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }

    /// Whether a role exists.
    pub async fn role_exists(&self, name: &str) -> bool {
        self.client
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }

    /// The connection limit of a database.
    pub async fn connection_limit(&self, name: &str) -> i32 {
        self.client
            .query_one("SELECT datconnlimit FROM pg_database WHERE datname = $1", &[&name])
            .await
            .unwrap()
            .get(0)
    }

    /// Holds the adapter's advisory lock for an instance until the returned client is dropped,
    /// which pauses every provider call on that instance: a slow backend on demand.
    pub async fn hold_instance_lock(instance_id: &str) -> tokio_postgres::Client {
        let client = pg_connect("postgres").await;
        let (class, key) = providers::postgres::advisory_lock_key(instance_id);
        client
            .execute("SELECT pg_advisory_lock($1, $2)", &[&class, &key])
            .await
            .unwrap();
        client
    }

    /// The raw client.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

/// Connects with credentials handed out by the broker and runs a statement; `Err` when the
/// server refuses (revoked credentials).
pub async fn connect_with_uri(uri: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(uri, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}
