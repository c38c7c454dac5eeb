//! Connections to the state store: how they are opened, how a broken one is found and
//! dropped, and how an outage is told apart from a busy pool and logged once.
//!
//! After the server restarts, every pooled connection is dead. A query on one fails; the
//! connection is then probed (one `SELECT 1`), and if the probe fails too it is marked broken,
//! so that the pool drops it instead of handing it out again, and the caller gets a 503. The
//! pool reopens connections in the background with a backoff capped at half of
//! [`CHECKOUT_WAIT`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use tracing::{info, warn};

use super::backend::{Backend, DbConnection};
use crate::error::{Error, Result};

/// How long a query waits for a connection when none is open (the server is unreachable)
/// before it is answered 503. A pool that has connections, all busy, is waited on longer.
pub const CHECKOUT_WAIT: Duration = Duration::from_secs(3);
/// How long a query waits for a busy pool's connection.
const BUSY_WAIT: Duration = Duration::from_secs(30);
/// libpq's connect timeout (seconds), so that an unreachable host fails fast.
const CONNECT_TIMEOUT_SECS: u32 = 3;

/// A pooled connection, and whether it was found broken.
pub struct Tracked {
    /// The connection.
    pub conn: DbConnection,
    broken: bool,
}

/// Whether the state store is unreachable, and since when: logged once on the way down and
/// once on the way back.
#[derive(Default)]
pub struct Outage {
    /// The fast check, read by every query.
    down: AtomicBool,
    since: Mutex<Option<Instant>>,
}

impl Outage {
    fn down(&self, why: &str) {
        let Ok(mut since) = self.since.lock() else { return };
        if since.is_none() {
            *since = Some(Instant::now());
            self.down.store(true, Ordering::Release);
            warn!(
                cause = why,
                "the state store is unreachable; requests are answered 503 until it is back"
            );
        }
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// The store answered (a new connection, or a query that succeeded).
    pub fn up(&self) {
        if !self.is_down() {
            return;
        }
        let Ok(mut since) = self.since.lock() else { return };
        if let Some(t) = since.take() {
            self.down.store(false, Ordering::Release);
            info!(
                down_for_ms = t.elapsed().as_millis() as u64,
                "the state store is reachable again"
            );
        }
    }
}

/// Opens connections of one backend; never falls back from one backend to the other.
pub struct ConnectionManager {
    backend: Backend,
    address: String,
    outage: std::sync::Arc<Outage>,
}

impl ConnectionManager {
    /// Opens `address` of `backend`, reporting failures and recoveries to `outage`.
    pub fn new(backend: Backend, address: String, outage: std::sync::Arc<Outage>) -> ConnectionManager {
        let address = match backend {
            Backend::Postgres if !address.contains("connect_timeout=") => {
                let sep = if address.contains('?') { '&' } else { '?' };
                format!("{address}{sep}connect_timeout={CONNECT_TIMEOUT_SECS}")
            }
            _ => address,
        };
        ConnectionManager {
            backend,
            address,
            outage,
        }
    }

    fn open(&self) -> Result<DbConnection, diesel::r2d2::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn =
                    diesel::SqliteConnection::establish(&self.address).map_err(diesel::r2d2::Error::ConnectionError)?;
                // The busy timeout comes first so that the pragmas after it wait for a lock
                // rather than fail. NORMAL syncs at checkpoints, which WAL keeps crash-safe.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            Backend::Postgres => diesel::PgConnection::establish(&self.address)
                .map(DbConnection::Postgresql)
                .map_err(diesel::r2d2::Error::ConnectionError),
        }
    }
}

impl std::fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address holds the store's password.
        f.debug_struct("ConnectionManager")
            .field("backend", &self.backend)
            .finish()
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = Tracked;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Tracked, Self::Error> {
        match self.open() {
            Ok(conn) => {
                self.outage.up();
                Ok(Tracked { conn, broken: false })
            }
            Err(e) => {
                self.outage.down(&e.to_string());
                Err(e)
            }
        }
    }

    fn is_valid(&self, conn: &mut Tracked) -> Result<(), Self::Error> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Tracked) -> bool {
        // A panic mid-query may leave a transaction open on the connection.
        conn.broken || std::thread::panicking()
    }
}

/// The message of a 503 while the state store is unreachable.
fn unavailable() -> Error {
    Error::Unavailable("the broker's state store is unreachable; retry in a few seconds".into())
}

/// A connection from the pool: at once when one is idle, [`CHECKOUT_WAIT`] at most when none
/// is open (an outage: 503), longer when all are busy with other queries.
pub fn check_out(pool: &Pool<ConnectionManager>, outage: &Outage) -> Result<PooledConnection<ConnectionManager>> {
    // During an outage a request takes an idle connection if the pool has reopened one, and
    // is answered at once otherwise (not after a wait per request).
    if outage.is_down() {
        return pool.try_get().ok_or_else(unavailable);
    }
    if let Ok(conn) = pool.get_timeout(CHECKOUT_WAIT) {
        return Ok(conn);
    }
    if pool.state().connections == 0 {
        outage.down("no connection could be opened");
        return Err(unavailable());
    }
    // All connections busy: a slow store rather than a lost one, but a bounded wait all the
    // same, and a 503 the client may retry after it.
    pool.get_timeout(BUSY_WAIT.saturating_sub(CHECKOUT_WAIT))
        .map_err(|_| unavailable())
}

/// What a failed query's error becomes: when the connection itself is gone (its probe fails
/// too), it is marked broken so that the pool drops it, and the caller gets a 503.
pub fn after_error(conn: &mut PooledConnection<ConnectionManager>, outage: &Outage, err: Error) -> Error {
    let suspect = matches!(
        &err,
        Error::Db(DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::Unknown,
            _
        )) | Error::Db(DieselError::BrokenTransactionManager)
    );
    // A transaction that could not be rolled back leaves the connection unusable for more.
    if matches!(&err, Error::Db(DieselError::BrokenTransactionManager)) {
        conn.broken = true;
        return err;
    }
    if !suspect || conn.conn.batch_execute("SELECT 1").is_ok() {
        return err;
    }
    conn.broken = true;
    outage.down(&err.to_string());
    unavailable()
}
