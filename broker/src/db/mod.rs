//! The state store: one diesel connection type over SQLite (embedded default) or PostgreSQL
//! (several replicas), chosen by URL scheme, with migrations embedded for each backend.
//!
//! diesel is synchronous, so every query goes through [`Db::run`] or [`Db::write`], which run it
//! on tokio's blocking pool.

mod backend;
pub mod models;
mod pool;
pub mod schema;

use std::os::unix::fs::DirBuilderExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::Pool;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{Error, Result};
pub use backend::{Backend, DbConnection};
use pool::{ConnectionManager, Outage};

/// Migrations of the SQLite backend.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
/// Migrations of the PostgreSQL backend.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// The broker's handle on its state store. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager>,
    backend: Backend,
    outage: Arc<Outage>,
    /// SQLite has one writer at a time; taking this lock before `BEGIN` keeps two writers of
    /// this process from deadlocking on the upgrade from a read to a write lock.
    sqlite_writer: Arc<Mutex<()>>,
}

/// How long `Db::connect` waits for the store (and its pool to fill).
const START_WAIT: Duration = Duration::from_secs(30);

/// How many times a PostgreSQL transaction is retried after a serialization failure.
const SERIALIZATION_RETRIES: usize = 20;

impl Db {
    /// Opens a pool on `url` (`sqlite://…` or `postgres://…`).
    pub fn connect(url: &str, pool_size: u32) -> Result<Db> {
        let (backend, address) = Backend::from_url(url);
        if backend == Backend::Sqlite {
            if let Some(parent) = std::path::Path::new(&address).parent() {
                if !parent.as_os_str().is_empty() && !parent.exists() {
                    // The state holds sealed secrets and metadata: private to the broker's user.
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .map_err(|e| {
                            Error::internal(format!("creating the state directory {}", parent.display()), e)
                        })?;
                }
            }
        }
        if backend == Backend::Sqlite {
            // WAL (readers beside the one writer) is a property of the file: set it once,
            // before the pool opens its connections in parallel.
            let mut conn = diesel::SqliteConnection::establish(&address)
                .map_err(|e| Error::internal("opening the state store", e))?;
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
        }
        let outage = Arc::new(Outage::default());
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            // Also the cap of the pool's reconnect backoff (half of it): a returning server
            // is reconnected to within about a second and a half.
            .connection_timeout(pool::CHECKOUT_WAIT)
            // A broken connection surfaces as a query error, after which it is probed and
            // dropped ([`pool::after_error`]); a probe on every checkout would cost a round
            // trip per query.
            .test_on_check_out(false)
            .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
            .build_unchecked(ConnectionManager::new(backend, address, outage.clone()));
        // A broker may start beside its state store (a compose file, a host's boot): it waits
        // for the store longer than a request would, then says why it cannot start. It waits
        // for the whole pool, as r2d2's own `build` does: a short-lived command (`broker
        // token`) must not exit while pool threads are still inside libpq's connect.
        let started = std::time::Instant::now();
        drop(
            pool.get_timeout(START_WAIT)
                .map_err(|e| Error::internal("opening the state store", e))?,
        );
        while pool.state().connections < pool.max_size() && started.elapsed() < START_WAIT {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(Db {
            pool,
            backend,
            outage,
            sqlite_writer: Arc::new(Mutex::new(())),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations (under an advisory lock on PostgreSQL, so replicas starting
    /// together migrate once).
    pub async fn migrate(&self) -> Result<usize> {
        self.run(|conn| {
            let applied = match conn {
                DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
                DbConnection::Postgresql(c) => {
                    c.batch_execute("SELECT pg_advisory_lock(16706, 1)")?;
                    let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len());
                    c.batch_execute("SELECT pg_advisory_unlock(16706, 1)")?;
                    result
                }
            };
            applied.map_err(|e| Error::internal("running migrations", e))
        })
        .await
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, outage) = (self.pool.clone(), self.outage.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = pool::check_out(&pool, &outage)?;
            let result = f(&mut conn.conn);
            match result {
                Err(e) => Err(pool::after_error(&mut conn, &outage, e)),
                ok => {
                    outage.up();
                    ok
                }
            }
        })
        .await
        .map_err(|e| Error::internal("state store task", e))?
    }

    /// Runs `f` in a serializable transaction: it sees a consistent state and its writes land
    /// together or not at all. On PostgreSQL it may run more than once (serialization retries).
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnMut(&mut DbConnection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let writer = self.sqlite_writer.clone();
        let backend = self.backend;
        self.run(move |conn| {
            let mut f = f;
            match backend {
                Backend::Sqlite => {
                    let _guard = writer
                        .lock()
                        .map_err(|_| Error::Internal("state store writer lock poisoned".into()))?;
                    conn.transaction(|c| f(c))
                }
                Backend::Postgres => {
                    let mut attempt = 0;
                    loop {
                        let result = conn.transaction(|c| {
                            c.batch_execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")?;
                            f(c)
                        });
                        match result {
                            Err(Error::Db(DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _)))
                            | Err(Error::Db(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)))
                                if attempt < SERIALIZATION_RETRIES =>
                            {
                                attempt += 1;
                                std::thread::sleep(Duration::from_millis(1 + 2 * attempt as u64));
                            }
                            other => return other,
                        }
                    }
                }
            }
        })
        .await
    }
}

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
