//! The router: every app at `{app}.{router.domain}` and its custom domains, each request sent
//! to one of the app's web dynos that are up, Heroku's error codes at the edges, and a log
//! line per request in the app's log.
//!
//! It runs inside the broker, beside the dyno supervisor, because the two share one fact that
//! must never be stale: which dynos take requests. The supervisor publishes a dyno to the
//! [`pool::Pool`] once its port accepts and takes it out before it is sent SIGTERM, then waits for
//! its requests in flight (`pool.rs`); across a process boundary the same handshake would
//! need a protocol of its own. One `broker serve` (or `broker dev`) still starts everything.
//!
//! One file per part: `server.rs` (listeners, HTTP/1.1 and HTTP/2, TLS via `tls.rs`) on
//! `lanes.rs` (a single-threaded runtime per core, `SO_REUSEPORT`),
//! `proxy.rs` (one request) over `link.rs` (a dyno connection driven by its user), `pool.rs` (backends), `hosts.rs` (host → app), `headers.rs`,
//! `body.rs` and `request_body.rs` (streamed bodies), `log.rs` (log lines, error codes and pages).

mod body;
mod headers;
mod hosts;
mod lane_log;
mod lanes;
mod link;
mod log;
pub mod pool;
mod proxy;
mod request_body;
mod server;
mod tls;

pub use server::Router;
