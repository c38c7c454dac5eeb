//! The router's listeners: plain HTTP (HTTP/1.1) and HTTPS (HTTP/1.1 or HTTP/2 by ALPN,
//! hyper-util's `auto` connection) accept loops, upgrades included, a bound on open
//! connections, and a graceful stop that lets requests in flight finish.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::config::{RouterSettings, WebAddress};
use crate::db::Db;
use crate::dynos::Dynos;
use crate::error::Result;

use super::headers::Arrival;
use super::hosts::Hosts;
use super::pool::Pool;
use super::proxy::Proxy;
use super::{lane_log, lanes, tls};

/// How long a client may take to send a request's head (slow-loris clients are cut off).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an HTTP/2 client is pinged, and how long its answer may take (a silent one is
/// closed).
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping router waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A bound router, not yet serving.
pub struct Router {
    proxy: Arc<Proxy>,
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, TlsAcceptor)>,
    domain: String,
    max_connections: usize,
    max_header_bytes: usize,
}

impl Router {
    /// Binds the listeners the settings name (`None` when they name none).
    pub fn bind(settings: &RouterSettings, db: Db, pool: Pool, dynos: Dynos) -> Result<Option<Router>> {
        let listen = |addr: &str| -> Result<Option<TcpListener>> {
            if addr.is_empty() {
                return Ok(None);
            }
            lanes::listen(addr).map(Some)
        };
        let plain = listen(&settings.listen)?;
        let tls = match listen(&settings.tls.listen)? {
            Some(l) => Some((l, tls::acceptor(&settings.tls)?)),
            None => None,
        };
        if plain.is_none() && tls.is_none() {
            return Ok(None);
        }
        let domain = settings.apps_domain()?;
        let proxy = Proxy {
            pool,
            hosts: Hosts::new(db, &domain, RouterSettings::millis(settings.host_cache_ms)),
            dynos,
            timeout: RouterSettings::millis(settings.timeout_ms.max(1)),
            boot_wait: RouterSettings::millis(settings.boot_wait_ms),
        };
        Ok(Some(Router {
            proxy: Arc::new(proxy),
            plain,
            tls,
            domain,
            max_connections: settings.max_connections.max(1),
            max_header_bytes: settings.max_header_bytes.max(8192),
        }))
    }

    /// What apps' URLs are made of: HTTPS when the router has it.
    pub fn web_address(&self) -> WebAddress {
        let (scheme, listener) = match (&self.tls, &self.plain) {
            (Some((l, _)), _) => ("https", Some(l)),
            (None, l) => ("http", l.as_ref()),
        };
        WebAddress {
            scheme,
            domain: self.domain.clone(),
            port: listener.map_or(80, port_of),
        }
    }

    /// `http://127.0.0.1:PORT` of each listener, for the start-up lines.
    pub fn listening(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(l) = &self.plain {
            out.push(format!("http://{}", address_of(l)));
        }
        if let Some((l, _)) = &self.tls {
            out.push(format!("https://{}", address_of(l)));
        }
        out
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (10 s at most).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let builders = Arc::new(builders(self.max_header_bytes));
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let tls = self.tls.as_ref().map(|(_, a)| a.clone());
        let mut threads = Vec::new();
        for lane in 0..lanes::count() {
            // Lane 0 takes the bound sockets; the others bind siblings on the same ports.
            let mine = |l: &TcpListener| if lane == 0 { l.try_clone() } else { lanes::sibling(l) };
            let plain = self.plain.as_ref().map(mine).transpose();
            let secure = self.tls.as_ref().map(|(l, _)| mine(l)).transpose();
            let (plain, secure) = match (plain, secure) {
                (Ok(p), Ok(s)) => (p, s),
                (Err(e), _) | (_, Err(e)) => {
                    warn!(lane, error = %e, "router: a lane could not listen; serving with fewer");
                    continue;
                }
            };
            let accept = |listener: TcpListener, tls: Option<TlsAcceptor>| Accept {
                proxy: self.proxy.clone(),
                builders: builders.clone(),
                port: port_of(&listener),
                listener,
                tls,
                slots: slots.clone(),
                stop: stop_rx.clone(),
            };
            let mut accepts: Vec<Accept> = plain.map(|l| accept(l, None)).into_iter().collect();
            accepts.extend(secure.map(|l| accept(l, tls.clone())));
            let (slots, all) = (slots.clone(), self.max_connections);
            let dynos = self.proxy.dynos.clone();
            let log = lane_log::flushing(dynos.clone(), stop_rx.clone());
            match lanes::spawn(lane, move || serve_lane(accepts, dynos, log, slots, all)) {
                Ok(t) => threads.push(t),
                Err(e) => warn!(lane, error = %e, "router: a lane could not start"),
            }
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// The connection builders: HTTP/1.1 for plain connections, `auto` (HTTP/1.1 or HTTP/2 by
/// ALPN) for TLS ones.
fn builders(max_header_bytes: usize) -> Builders {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(max_header_bytes);
    let mut auto = auto::Builder::new(TokioExecutor::new());
    auto.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(max_header_bytes);
    auto.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE)
        .max_concurrent_streams(256);
    (http1, auto)
}

/// One lane's accept loops until the stop; then its connections' end (10 s at most), as
/// every open connection of every lane holds a permit of `slots`.
async fn serve_lane(
    accepts: Vec<Accept>,
    dynos: Dynos,
    log: impl Future<Output = ()> + Send + 'static,
    slots: Arc<tokio::sync::Semaphore>,
    all: usize,
) {
    let log = tokio::spawn(log);
    let loops: Vec<_> = accepts.into_iter().map(|a| tokio::spawn(a.run())).collect();
    for l in loops {
        let _ = l.await;
    }
    let all = u32::try_from(all).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(STOP_GRACE, slots.acquire_many(all)).await;
    let _ = log.await;
    // Lines of the requests that finished during the drain.
    lane_log::flush(&dynos);
}

/// HTTP/1.1 for plain connections; HTTP/1.1 or HTTP/2 (ALPN) for TLS ones.
type Builders = (hyper::server::conn::http1::Builder, auto::Builder<TokioExecutor>);

/// One listener's accept loop.
struct Accept {
    proxy: Arc<Proxy>,
    builders: Arc<Builders>,
    listener: TcpListener,
    port: u16,
    tls: Option<TlsAcceptor>,
    /// One permit per open client connection (`router.max_connections`).
    slots: Arc<tokio::sync::Semaphore>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Accept {
    async fn run(mut self) {
        let listener = match tokio::net::TcpListener::from_std(self.listener) {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "router: the listener cannot be served");
                return;
            }
        };
        let proto = if self.tls.is_some() { "https" } else { "http" };
        loop {
            let permit = tokio::select! {
                p = self.slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                () = stopped(&mut self.stop) => return,
            };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = stopped(&mut self.stop) => return,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: let some connections close.
                    debug!(error = %e, "router: accepting a connection");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn = Connection {
                proxy: self.proxy.clone(),
                builders: self.builders.clone(),
                arrival: Arrival::new(peer.ip(), proto, self.port),
                stop: self.stop.clone(),
            };
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                conn.serve(stream, tls).await;
            });
        }
    }
}

/// One client connection.
struct Connection {
    proxy: Arc<Proxy>,
    builders: Arc<Builders>,
    arrival: Arrival,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Connection {
    async fn serve(mut self, stream: tokio::net::TcpStream, tls: Option<TlsAcceptor>) {
        // A client that connects and says nothing would hold its slot for ever: hyper's own
        // head timeout starts only once a request is expected.
        let said = tokio::time::timeout(HEADER_TIMEOUT, stream.peek(&mut [0u8; 1])).await;
        if !matches!(said, Ok(Ok(n)) if n > 0) {
            return;
        }
        let (proxy, arrival) = (self.proxy.clone(), self.arrival.clone());
        let service = service_fn(move |req| {
            let (proxy, arrival) = (proxy.clone(), arrival.clone());
            async move { Ok::<_, std::convert::Infallible>(proxy.handle(req, arrival).await) }
        });
        let served = match tls {
            None => {
                let conn = self
                    .builders
                    .0
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                until_stopped(conn, &mut self.stop, |c| c.graceful_shutdown()).await
            }
            Some(acceptor) => {
                let Ok(Ok(tls_stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await else {
                    return;
                };
                let conn = self
                    .builders
                    .1
                    .serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                until_stopped(conn, &mut self.stop, |c| c.graceful_shutdown()).await
            }
        };
        if let Err(e) = served {
            debug!(error = %e, "router: a client connection ended with an error");
        }
    }
}

/// Serves a connection until it ends; at the router's stop, `shut` asks it to finish the
/// request in flight and close (hyper's and hyper-util's connections each have their own
/// `graceful_shutdown`, with no trait in common).
async fn until_stopped<C, E>(
    conn: C,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    shut: impl FnOnce(std::pin::Pin<&mut C>),
) -> std::result::Result<(), String>
where
    C: Future<Output = std::result::Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(conn);
    let ended = tokio::select! {
        biased;
        r = conn.as_mut() => r,
        () = stopped(stop) => {
            shut(conn.as_mut());
            conn.await
        }
    };
    ended.map_err(|e| e.to_string())
}

/// Resolves once the router is told to stop (the watch's guard is not held across awaits).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn port_of(l: &TcpListener) -> u16 {
    l.local_addr().map(|a| a.port()).unwrap_or_default()
}

fn address_of(l: &TcpListener) -> String {
    match l.local_addr() {
        Ok(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
        Ok(a) => a.to_string(),
        Err(_) => "?".into(),
    }
}
