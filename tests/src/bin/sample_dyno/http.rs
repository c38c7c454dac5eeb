//! `sample-dyno http`: the web app behind the router in its tests and benchmarks, on hyper
//! with keep-alive:
//! - `GET /hello`: `hello world` (the benchmarks' request);
//! - `GET /` or any other path: JSON with the dyno's name, `$MARK`, and the request's method,
//!   path and headers (what the router forwarded);
//! - `GET /sleep/MS`: answers after MS milliseconds;
//! - `GET /stream/N`: N lines, 50 ms apart, as one chunked response;
//! - `POST /upload`: reads the body as it comes, prints `upload started` on stdout at its first
//!   bytes, and answers `{"bytes": N}`;
//! - `GET /ws`: a WebSocket that echoes every message;
//! - `GET /hangup`: closes the connection without a response;
//! - `GET /exit`: the process exits with status 1 (a crash).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::Write;

type Body = Either<Full<Bytes>, StreamBody<futures::channel::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>>>;

/// Serves on `$PORT` until killed.
pub fn serve() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5000);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("0.0.0.0", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {port}: {e}");
                std::process::exit(1);
            }
        };
        say(&format!("http listening on {port}"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(handle);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
}

/// A line on stdout, flushed (the dyno's log).
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Either::Left(Full::new(body.into())));
    *r.status_mut() = status;
    r
}

/// An error closes the connection without a response (hyper's behaviour), which `/hangup` wants.
async fn handle(mut req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    let path = req.uri().path().to_string();
    let arg = |prefix: &str| path.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok());
    Ok(match path.as_str() {
        "/hello" => text(StatusCode::OK, "hello world"),
        "/hangup" => return Err(std::io::Error::other("hanging up")),
        "/exit" => {
            say("exiting on request");
            std::process::exit(1);
        }
        "/upload" => upload(req.into_body()).await,
        "/ws" => websocket(&mut req),
        _ if path.starts_with("/sleep/") => {
            let ms = arg("/sleep/").unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(StatusCode::OK, format!("slept {ms}"))
        }
        _ if path.starts_with("/stream/") => stream(arg("/stream/").unwrap_or(1)),
        _ => echo(&req),
    })
}

fn echo(req: &Request<Incoming>) -> Response<Body> {
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned().into()))
        .collect();
    let body = serde_json::json!({
        "dyno": std::env::var("DYNO").unwrap_or_default(),
        "mark": std::env::var("MARK").unwrap_or_default(),
        "method": req.method().as_str(),
        "path": req.uri().to_string(),
        "headers": headers,
    });
    text(StatusCode::OK, body.to_string())
}

async fn upload(mut body: Incoming) -> Response<Body> {
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return text(StatusCode::BAD_REQUEST, "the body broke off");
        };
        if let Some(data) = frame.data_ref() {
            if bytes == 0 && !data.is_empty() {
                say("upload started");
            }
            bytes += data.len() as u64;
        }
    }
    say(&format!("upload done {bytes}"));
    text(StatusCode::OK, serde_json::json!({ "bytes": bytes }).to_string())
}

fn stream(n: u64) -> Response<Body> {
    let (mut tx, rx) = futures::channel::mpsc::channel(4);
    tokio::spawn(async move {
        for i in 0..n {
            let line = Bytes::from(format!("chunk {i}\n"));
            if tx.send(Ok(Frame::data(line))).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    Response::new(Either::Right(StreamBody::new(rx)))
}

fn websocket(req: &mut Request<Incoming>) -> Response<Body> {
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::Role;
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return text(StatusCode::BAD_REQUEST, "not a WebSocket handshake");
    };
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut ws =
            tokio_tungstenite::WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                return;
            }
        }
    });
    let mut r = text(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
    let h = r.headers_mut();
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert("connection", HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&key) {
        h.insert("sec-websocket-accept", accept);
    }
    r
}
