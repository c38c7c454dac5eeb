//! Headers at the router: the request id, the host a request names, the `X-Forwarded-*` and
//! `Via` headers a dyno sees, and the hop-by-hop headers (RFC 9110 §7.6.1) that end at the
//! router in both directions.

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use hyper::http::uri::Uri;

/// The `Via` entry of this router (RFC 9110 §7.6.3).
pub const VIA: &str = "1.1 addon-broker";

/// What other proxies say about a request: a client could claim any of it, and apps trust it
/// (Rails' host from `X-Forwarded-Host`, Rack's scheme from `X-Forwarded-Ssl`), so it never
/// reaches a dyno. The router sets `X-Forwarded-For`, `-Proto` and `-Port` itself.
const CLAIMS: [&str; 5] = [
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-real-ip",
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_REQUEST_START: HeaderName = HeaderName::from_static("x-request-start");

/// Headers that belong to one connection only. `Connection` names more of them.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// The client's `X-Request-Id` when it is valid (Heroku's rule: 20 to 200 letters, digits,
/// `+`, `/`, `=`, `-`), else a new one.
pub fn request_id(headers: &HeaderMap) -> String {
    let given = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    match given {
        Some(id)
            if (20..=200).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=-".contains(&b)) =>
        {
            id.to_string()
        }
        // A v4 UUID from the thread's generator: `new_v4` asks the kernel for every one.
        _ => uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string(),
    }
}

/// The host a request is for, lower-cased, without its port or a trailing dot: the `Host`
/// header, else the request target's authority (HTTP/2). `None` when neither is a host name.
pub fn host_of(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    // Two Host headers would let the router and the dyno see different hosts (RFC 9112 §3.2).
    if headers.get_all(HOST).iter().nth(1).is_some() {
        return None;
    }
    let raw = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))?;
    let host = raw.rsplit_once(':').map_or(raw, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            raw
        }
    });
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then_some(host)
}

/// Whether the request asks to switch protocols (a WebSocket handshake).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE) && connection_names(headers).any(|n| n.eq_ignore_ascii_case("upgrade"))
}

/// Names listed in `Connection`.
fn connection_names(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// Removes the hop-by-hop headers (and `also`); an upgrade keeps `Connection: upgrade` and
/// `Upgrade`, which the next hop needs to switch protocols. One pass over the names, each
/// compared as text: the router does this twice per request, and hashing every candidate
/// name costs more than the request's few headers.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    strip(headers, upgrade, &[]);
}

fn strip(headers: &mut HeaderMap, upgrade: bool, also: &[&str]) {
    let listed: Vec<String> = connection_names(headers).map(str::to_ascii_lowercase).collect();
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let n = k.as_str();
            HOP_BY_HOP.contains(&n) || also.contains(&n) || listed.iter().any(|l| l == n)
        })
        .cloned()
        .collect();
    if doomed.is_empty() {
        return;
    }
    let upgrade_to = upgrade.then(|| headers.get(UPGRADE).cloned()).flatten();
    for name in doomed {
        headers.remove(name);
    }
    if let Some(to) = upgrade_to {
        headers.insert(UPGRADE, to);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Where a request came from and arrived, with the header values that say so rendered once
/// per connection (not per request).
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The client's address, as text.
    pub peer: HeaderValue,
    /// `http` or `https`.
    pub proto: &'static str,
    /// The router port it arrived on, as text.
    pub port: HeaderValue,
}

impl Arrival {
    /// A connection from `peer` on the router's `port`.
    pub fn new(peer: std::net::IpAddr, proto: &'static str, port: u16) -> Arrival {
        let text = |s: String| HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""));
        Arrival {
            peer: text(peer.to_canonical().to_string()),
            proto,
            port: text(port.to_string()),
        }
    }
}

/// The request headers a dyno sees: hop-by-hop ones and other proxies' claims removed,
/// `X-Request-Id`, the client
/// appended to `X-Forwarded-For`, `X-Forwarded-Proto` and `-Port` set (never the client's),
/// `X-Request-Start` (ms) and this router added to `Via`; `Host` kept (from the authority
/// when an HTTP/2 client sent none).
pub fn to_dyno(headers: &mut HeaderMap, upgrade: bool, arrival: &Arrival, request_id: &str, host: Option<&str>) {
    strip(headers, upgrade, &CLAIMS);
    match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(before) if !before.trim().is_empty() => {
            let fwd = format!("{before}, {}", arrival.peer.to_str().unwrap_or_default());
            set(headers, X_FORWARDED_FOR, &fwd);
        }
        _ => {
            headers.insert(X_FORWARDED_FOR, arrival.peer.clone());
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(arrival.proto));
    headers.insert(X_FORWARDED_PORT, arrival.port.clone());
    set(headers, X_REQUEST_ID, request_id);
    set(headers, X_REQUEST_START, &format!("t={}", crate::db::now_ms()));
    append_via(headers);
    if !headers.contains_key(HOST) {
        if let Some(h) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
            headers.insert(HOST, h);
        }
    }
}

/// The response headers a client sees: hop-by-hop ones removed (an upgrade's kept), no
/// `Content-Length` beside a `Transfer-Encoding`, and this router added to `Via`.
pub fn to_client(headers: &mut HeaderMap, upgrade: bool) {
    // A dyno that sent both framed its body with Transfer-Encoding (RFC 9112 §6.3); the length
    // would make the router's side cut the body short.
    if headers.contains_key(hyper::header::TRANSFER_ENCODING) {
        headers.remove(hyper::header::CONTENT_LENGTH);
    }
    strip_hop_by_hop(headers, upgrade);
    append_via(headers);
}

fn append_via(headers: &mut HeaderMap) {
    match headers.get(hyper::header::VIA).and_then(|v| v.to_str().ok()) {
        Some(before) => {
            let via = format!("{before}, {VIA}");
            set(headers, hyper::header::VIA, &via);
        }
        None => {
            headers.insert(hyper::header::VIA, HeaderValue::from_static(VIA));
        }
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_valid_request_id_is_kept_and_others_replaced() {
        let good = "abcdefghij0123456789+/=-";
        assert_eq!(request_id(&map(&[("x-request-id", good)])), good);
        for bad in [
            "short",
            "has spaces in it, twenty chars",
            &"x".repeat(201),
            "semicolons;;;;;;;;;;;;;;",
        ] {
            let id = request_id(&map(&[("x-request-id", bad)]));
            assert_ne!(id, bad);
            assert_eq!(id.len(), 36);
        }
    }

    #[test]
    fn hosts_lose_ports_case_and_trailing_dots_and_junk_is_refused() {
        let uri: Uri = "/".parse().unwrap();
        let host = |h: &str| host_of(&map(&[("host", h)]), &uri);
        assert_eq!(host("MyApp.localhost:8080").as_deref(), Some("myapp.localhost"));
        assert_eq!(host("www.example.com.").as_deref(), Some("www.example.com"));
        assert_eq!(host("a b.com"), None);
        let two = map(&[("host", "a.localhost"), ("host", "b.localhost")]);
        assert_eq!(host_of(&two, &uri), None, "two Host headers are refused");
        assert_eq!(host("../etc"), None);
        assert_eq!(host(""), None);
        let h2: Uri = "https://App.Example.com/x".parse().unwrap();
        assert_eq!(host_of(&HeaderMap::new(), &h2).as_deref(), Some("app.example.com"));
    }

    #[test]
    fn hop_by_hop_headers_stop_at_the_router_and_forwarded_ones_are_set() {
        let mut h = map(&[
            ("connection", "close, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("via", "1.0 corp"),
            ("host", "myapp.localhost:5000"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-ssl", "on"),
            ("forwarded", "for=1.2.3.4;proto=https"),
            ("x-real-ip", "1.2.3.4"),
        ]);
        let arrival = Arrival::new("127.0.0.1".parse().unwrap(), "http", 5000);
        to_dyno(&mut h, false, &arrival, "rid-0123456789abcdefghij", None);
        for gone in [
            "connection",
            "x-secret",
            "keep-alive",
            "te",
            "x-forwarded-host",
            "x-forwarded-ssl",
            "forwarded",
            "x-real-ip",
        ] {
            assert!(!h.contains_key(gone), "{gone} passed through");
        }
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-port"], "5000");
        assert_eq!(h["via"], "1.0 corp, 1.1 addon-broker");
        assert_eq!(h["host"], "myapp.localhost:5000");
        assert_eq!(h["x-request-id"], "rid-0123456789abcdefghij");
    }

    #[test]
    fn a_length_beside_chunked_framing_is_dropped_on_the_way_back() {
        let mut h = map(&[("transfer-encoding", "chunked"), ("content-length", "5")]);
        to_client(&mut h, false);
        assert!(!h.contains_key("content-length") && !h.contains_key("transfer-encoding"));
        let mut plain = map(&[("content-length", "5")]);
        to_client(&mut plain, false);
        assert_eq!(plain["content-length"], "5");
    }

    #[test]
    fn an_upgrade_keeps_its_connection_and_upgrade_headers() {
        let mut h = map(&[("connection", "keep-alive, Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        let plain = map(&[("upgrade", "websocket")]);
        assert!(!is_upgrade(&plain));
    }
}
