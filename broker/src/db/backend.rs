//! The two state store backends and the one connection type over them.

mod connection {
    // The derive generates public items of its own that cannot carry doc comments.
    #![allow(missing_docs)]

    /// A connection to either backend.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// PostgreSQL state store.
        Postgresql(diesel::PgConnection),
        /// SQLite state store.
        Sqlite(diesel::SqliteConnection),
    }
}
pub use connection::DbConnection;

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path` (or a bare path).
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl Backend {
    /// The backend a URL names, and the address to hand its driver.
    pub fn from_url(url: &str) -> (Backend, String) {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            (Backend::Sqlite, path.to_string())
        }
    }
}
