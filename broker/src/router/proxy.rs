//! One request through the router: the host's app, a backend from its pool, the request
//! streamed to the dyno over a kept-alive connection, and the response streamed back, or one
//! of Heroku's errors. A connection refused before any byte was sent is retried on another
//! dyno; once a byte of a request was written, it is never sent again (a request that crashed
//! one dyno must not crash the next). Idle connections are reused for at most a second, below
//! app servers' keep-alive timeouts, so that a dyno does not close one as a request goes out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Either;
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tracing::warn;

use crate::dynos::Dynos;

use super::body::{page, OnEnd, Relayed, RouterBody};
use super::headers::{self, Arrival};
use super::hosts::{Hosts, Target};
use super::lane_log;
use super::link::Link;
use super::log::{self, Code, Outcome, RequestLine};
use super::pool::{Backend, InFlight, Pick, Pool};
use super::request_body::{BodyState, UpstreamBody};

/// Longest wait for a dyno to accept a connection (it is on this host: only a dyno that is
/// overloaded or frozen takes long).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a request waiting for a booting dyno looks again, should it miss a wake-up.
const BOOT_POLL: Duration = Duration::from_millis(100);

/// The router's request handling, shared by its listeners.
pub struct Proxy {
    /// Each app's backends.
    pub pool: Pool,
    /// Host → app.
    pub hosts: Hosts,
    /// Where log lines go.
    pub dynos: Dynos,
    /// `router.timeout_ms`.
    pub timeout: Duration,
    /// `router.boot_wait_ms`.
    pub boot_wait: Duration,
}

/// A request's log line, written exactly once: by [`Watch::done`], or on drop when the client
/// went away before that (`H27`).
struct Watch {
    dynos: Dynos,
    app_id: Arc<str>,
    line: RequestLine,
    outcome: Outcome,
    logged: bool,
}

impl Watch {
    fn done(mut self, outcome: Outcome, error: Option<Code>) {
        self.logged = true;
        lane_log::write(&self.dynos, &self.app_id, log::line(&self.line, &outcome, error));
    }

    /// Logs `code`, found before any dyno was asked, and answers with its page.
    fn fail_unrouted(mut self, code: Code) -> Response<RouterBody> {
        self.outcome = Outcome::default();
        self.fail(code)
    }

    /// Logs `code` and answers with its page.
    fn fail(mut self, code: Code) -> Response<RouterBody> {
        let page = code.page(&self.line.request_id);
        let mut outcome = std::mem::take(&mut self.outcome);
        outcome.status = code.status().as_u16();
        outcome.bytes = page.len() as u64;
        self.done(outcome, Some(code));
        respond(code.status(), page)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.logged {
            let mut outcome = std::mem::take(&mut self.outcome);
            outcome.status = Code::ClientInterrupted.status().as_u16();
            let text = log::line(&self.line, &outcome, Some(Code::ClientInterrupted));
            lane_log::write(&self.dynos, &self.app_id, text);
        }
    }
}

/// What sending a request on a connection came to.
enum Sent {
    Response(Response<Incoming>, Link),
    /// Nothing was written: the request is back, to go elsewhere.
    Unsent(Request<UpstreamBody>),
    TimedOut,
    /// Written in part or whole, then the connection failed.
    Failed,
}

impl Proxy {
    /// Answers one request that arrived as `arrival`.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, arrival: Arrival) -> Response<RouterBody> {
        let request_id = headers::request_id(req.headers());
        if req.method() == hyper::Method::CONNECT {
            // The router is no forward proxy.
            return respond(StatusCode::METHOD_NOT_ALLOWED, log::not_a_proxy());
        }
        let Some(host) = headers::host_of(req.headers(), req.uri()) else {
            return respond(StatusCode::BAD_REQUEST, log::no_such_app("(no host)"));
        };
        let target = match self.hosts.resolve(&host).await {
            Ok(Some(t)) => t,
            Ok(None) => return respond(StatusCode::NOT_FOUND, log::no_such_app(&host)),
            Err(e) => {
                if !e.is_outage() {
                    warn!(error = %e.chain(), "router: resolving a host");
                }
                return respond(StatusCode::SERVICE_UNAVAILABLE, log::router_unavailable());
            }
        };
        let watch = Watch {
            dynos: self.dynos.clone(),
            app_id: target.app_id.clone(),
            line: RequestLine {
                method: req.method().clone(),
                uri: req.uri().clone(),
                host,
                request_id,
                fwd: arrival.peer.clone(),
                protocol: arrival.proto,
            },
            outcome: Outcome::default(),
            logged: false,
        };
        self.route(req, &target, arrival, watch).await
    }

    /// Sends the request to one of the app's backends and relays the answer.
    async fn route(
        &self,
        req: Request<Incoming>,
        target: &Target,
        arrival: Arrival,
        mut watch: Watch,
    ) -> Response<RouterBody> {
        let started = Instant::now();
        let Some(routes) = self.pool.app(&target.app_id) else {
            return watch.fail(Code::NoWebDynos);
        };
        let upgrade = headers::is_upgrade(req.headers());
        let (mut parts, body) = req.into_parts();
        let client_upgrade = parts.extensions.remove::<OnUpgrade>().filter(|_| upgrade);
        headers::to_dyno(
            &mut parts.headers,
            upgrade,
            &arrival,
            &watch.line.request_id,
            Some(&watch.line.host),
        );
        parts.uri = origin_form(&parts.uri);
        parts.version = Version::HTTP_11;
        let had_body = !body.is_end_stream();
        let state = Arc::new(BodyState::default());
        let mut req = Request::from_parts(parts, UpstreamBody::new(body, state.clone()));
        let mut tried: Vec<String> = Vec::new();
        loop {
            let inflight = match routes.pick(&tried) {
                Pick::Backend(b) => b,
                Pick::NoneWanted => return watch.fail_unrouted(Code::NoWebDynos),
                Pick::Crashed => return watch.fail_unrouted(Code::AppCrashed),
                Pick::Booting => {
                    let left = self.boot_wait.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return watch.fail_unrouted(Code::BootTimeout);
                    }
                    let _ = tokio::time::timeout(left.min(BOOT_POLL), routes.changed()).await;
                    continue;
                }
            };
            let backend = inflight.backend().clone();
            watch.outcome.dyno = Some(backend.dyno.clone());
            let connecting = Instant::now();
            let Ok((link, reused)) = connection(&backend, upgrade).await else {
                tried.push(backend.container_id.clone());
                continue;
            };
            watch.outcome.connect = Some(connecting.elapsed());
            let sent_at = Instant::now();
            match send(link, req, self.timeout, &state).await {
                Sent::Response(resp, link) => {
                    watch.outcome.service = Some(sent_at.elapsed());
                    return relay(resp, link, inflight, client_upgrade, watch);
                }
                Sent::Unsent(back) => {
                    if !reused {
                        tried.push(backend.container_id.clone());
                    }
                    req = back;
                }
                Sent::TimedOut => {
                    watch.outcome.service = Some(sent_at.elapsed());
                    return watch.fail(Code::RequestTimeout);
                }
                Sent::Failed => {
                    watch.outcome.service = Some(sent_at.elapsed());
                    return watch.fail(failure(&state, had_body));
                }
            }
        }
    }
}

/// Which error a request that failed after it was sent is.
fn failure(state: &BodyState, had_body: bool) -> Code {
    use std::sync::atomic::Ordering;
    if state.client_failed.load(Ordering::Acquire) {
        Code::ClientInterrupted
    } else if had_body && !state.finished.load(Ordering::Acquire) {
        Code::ServerInterrupted
    } else {
        Code::ConnectionClosed
    }
}

/// The path and query alone: what HTTP/1.1 sends to an origin server.
fn origin_form(uri: &Uri) -> Uri {
    uri.path_and_query()
        .and_then(|p| Uri::builder().path_and_query(p.clone()).build().ok())
        .unwrap_or_else(|| Uri::from_static("/"))
}

/// An idle connection to the backend, else a new one (`true` when reused). An upgrade always
/// gets a new one: the connection becomes the tunnel.
async fn connection(b: &Backend, upgrade: bool) -> Result<(Link, bool), ()> {
    if !upgrade {
        if let Some(link) = b.take_idle() {
            return Ok((link, true));
        }
    }
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, b.endpoint.connect())
        .await
        .map_err(|_| ())?
        .map_err(|_| ())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ())?;
    let link = if upgrade {
        Link::spawned(sender, conn)
    } else {
        Link::inline(sender, conn)
    };
    Ok((link, false))
}

/// Sends the request and waits for the response headers, driving the connection: `timeout` at
/// most once the whole request is with the dyno (Heroku's H12 clock, so a long upload is not
/// a timeout).
async fn send(mut link: Link, req: Request<UpstreamBody>, timeout: Duration, body: &BodyState) -> Sent {
    // A kept connection settles from its last response here; one that closed meanwhile gives
    // the request back untouched.
    if !matches!(tokio::time::timeout(CONNECT_TIMEOUT, link.ready()).await, Ok(true)) {
        return Sent::Unsent(req);
    }
    let response = link.sender.try_send_request(req);
    tokio::pin!(response);
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut connection_over = false;
    let answered = loop {
        let until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + timeout);
        tokio::select! {
            // In this order, without the macro's random start (no RNG per poll).
            biased;
            r = &mut response => break r,
            () = std::future::poll_fn(|cx| link.poll_connection(cx)), if !connection_over => connection_over = true,
            () = body.ended(), if deadline.is_none() => deadline = Some(tokio::time::Instant::now() + timeout),
            () = tokio::time::sleep_until(until), if deadline.is_some() => return Sent::TimedOut,
        }
    };
    match answered {
        Ok(resp) => Sent::Response(resp, link),
        Err(mut e) => match e.take_message() {
            Some(back) => Sent::Unsent(back),
            None => Sent::Failed,
        },
    }
}

/// The dyno's response on its way to the client; a `101` becomes a tunnel between the two
/// upgraded connections, counted on the backend until it closes.
fn relay(
    mut resp: Response<Incoming>,
    link: Link,
    inflight: InFlight,
    client_upgrade: Option<OnUpgrade>,
    watch: Watch,
) -> Response<RouterBody> {
    let status = resp.status();
    let mut outcome = watch.outcome.clone();
    outcome.status = status.as_u16();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = client_upgrade {
            let dyno = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                let _counted = inflight;
                if let (Ok(c), Ok(d)) = tokio::join!(client, dyno) {
                    let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(c), &mut TokioIo::new(d)).await;
                }
                drop(link);
            });
            headers::to_client(resp.headers_mut(), true);
            watch.done(outcome, None);
            return resp.map(|_| page(String::new()));
        }
    }
    headers::to_client(resp.headers_mut(), false);
    let on_end: OnEnd = Box::new(move |bytes, _whole| {
        outcome.bytes = bytes;
        watch.done(outcome, None);
    });
    resp.map(|b| Either::Right(Relayed::new(b, Some(link), inflight, on_end)))
}

/// A page of the router's own with this status.
fn respond(status: StatusCode, text: String) -> Response<RouterBody> {
    let mut resp = Response::new(page(text));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("via", HeaderValue::from_static(headers::VIA));
    resp
}
