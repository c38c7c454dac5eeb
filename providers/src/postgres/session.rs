//! The admin pool and the per-instance advisory lock held on one pooled session.

use super::*;

impl PostgresProvider {
    /// Connects the admin pool (lazily: the server need not be up yet).
    pub fn new(config: &PostgresConfig) -> Result<Self> {
        let admin: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| ProviderError::Invalid(format!("postgresql url: {e}")))?;
        let host = match (&config.public_host, admin.get_hosts().first()) {
            (Some(h), _) => h.clone(),
            (None, Some(tokio_postgres::config::Host::Tcp(h))) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        let port = config
            .public_port
            .or_else(|| admin.get_ports().first().copied())
            .unwrap_or(5432);
        let admin_user = admin.get_user().unwrap_or("postgres").to_string();
        let mut pool_config = admin.clone();
        pool_config.application_name("addon-broker");
        pool_config.connect_timeout(Duration::from_secs(10));
        let manager = Manager::from_config(
            pool_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .build()
            .map_err(|e| ProviderError::Invalid(format!("postgresql pool: {e}")))?;
        Ok(PostgresProvider {
            pool,
            admin,
            admin_user,
            host,
            port,
            service: build_service(),
            template_ready: std::sync::OnceLock::new(),
        })
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| ProviderError::Transient(format!("connecting to the shared postgresql server: {e}")))
    }

    /// Takes a pooled session and the instance's advisory lock on it.
    pub(super) async fn lock(&self, instance_id: &str) -> Result<Locked> {
        let client = self.client().await?;
        let key = advisory_lock_key(instance_id);
        client
            .execute("SELECT pg_advisory_lock($1, $2)", &[&key.0, &key.1])
            .await
            .map_err(|e| classify("taking the instance lock", e))?;
        Ok(Locked {
            client: Some(client),
            key,
        })
    }
}

/// A pooled session holding an instance's advisory lock until [`Locked::release`].
pub(super) struct Locked {
    /// `None` only after [`Locked::release`] or during drop.
    client: Option<deadpool_postgres::Object>,
    key: (i32, i32),
}

impl Locked {
    /// The session holding the lock.
    pub(super) fn session(&self) -> Result<&tokio_postgres::Client> {
        self.client
            .as_deref()
            .map(|c| &**c)
            .ok_or_else(|| ProviderError::Failed("the locked session is gone".into()))
    }

    /// Releases the lock and hands `result` through.
    pub(super) async fn release<T>(mut self, result: Result<T>) -> Result<T> {
        let (class, key) = self.key;
        if let Some(client) = self.client.take() {
            // If unlocking fails the session is broken; taking it out of the pool closes it,
            // which releases the lock on the server.
            if client
                .execute("SELECT pg_advisory_unlock($1, $2)", &[&class, &key])
                .await
                .is_err()
            {
                let _ = deadpool_postgres::Object::take(client);
            }
        }
        result
    }
}

impl Drop for Locked {
    /// A call cancelled while holding the lock (a provider time limit) must not hand a session
    /// that still holds it back to the pool: close the session instead, which frees the lock.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = deadpool_postgres::Object::take(client);
        }
    }
}

pub(super) async fn role_exists(client: &tokio_postgres::Client, role: &str) -> Result<bool> {
    let row = client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .map_err(|e| classify("looking up a role", e))?;
    Ok(row.is_some())
}

pub(super) async fn terminate_sessions(client: &tokio_postgres::Client, role: &str) -> Result<()> {
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            &[&role],
        )
        .await
        .map_err(|e| classify("terminating sessions", e))?;
    Ok(())
}
