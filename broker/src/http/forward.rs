//! Dyno requests that reach a replica which does not supervise the runtime are sent on to the
//! one that does (the holder of the runtime's lease, at the URL it recorded with it), and its
//! answer streams back. The holder checks the caller's token again. A request forwarded once
//! is never forwarded again: two replicas that each believe the other holds the lease answer
//! 503 rather than loop. Attaching to a dyno (a WebSocket) is not forwarded.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use futures::StreamExt;

use super::errors::ApiError;
use super::extract::RequestId;
use super::middleware::REQUEST_ID;
use super::state::PlatformState;
use crate::error::Error;

/// Marks a request that one replica sent another.
const FORWARDED: &str = "x-broker-forwarded";

/// Whether `path` is a dyno route: `/apps/{app}/dynos…` or `/apps/{app}/logs`.
fn is_dyno_route(path: &str) -> bool {
    let mut parts = path.trim_start_matches('/').split('/');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("apps"), Some(app), Some("dynos" | "logs")) if !app.is_empty()
    )
}

/// The supervisor's URL when this request is to go there.
async fn destination(req: &ServiceRequest) -> Option<String> {
    if !is_dyno_route(req.path())
        || req.headers().contains_key(FORWARDED)
        || req.headers().contains_key(header::UPGRADE)
    {
        return None;
    }
    let state = req.app_data::<web::Data<PlatformState>>()?;
    state.dynos.supervisor_url().await
}

/// Middleware: forwards dyno requests to the supervising replica; others pass through.
pub async fn to_supervisor(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(base) = destination(&req).await else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let body = req.extract::<web::Bytes>().await?;
    let answer = match forward(&req, &base, body).await {
        Ok(r) => r,
        Err(e) => ApiError::from(e).error_response(),
    };
    Ok(req.into_response(answer))
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Headers that belong to one connection, not to the request or answer (RFC 9110 §7.6.1),
/// and those the client library sets itself.
fn passes(name: &header::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade" | "host" | "content-length"
    )
}

async fn forward(req: &ServiceRequest, base: &str, body: web::Bytes) -> Result<HttpResponse, Error> {
    let gone = |e: reqwest::Error| {
        Error::Unavailable(format!(
            "the replica that supervises the dynos did not answer ({}); retry shortly",
            e.without_url()
        ))
    };
    let url = format!("{base}{}", req.uri().path_and_query().map_or("/", |p| p.as_str()));
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| Error::BadRequest("unknown method".into()))?;
    let mut out = client().request(method, url).header(FORWARDED, "1").body(body);
    // Both replicas log the request under one id.
    if let Some(id) = req.extensions().get::<RequestId>() {
        out = out.header(REQUEST_ID, id.0.as_str());
    }
    for (name, value) in req.headers().iter().filter(|(n, _)| passes(n)) {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let resp = out.send().await.map_err(gone)?;
    let status = actix_web::http::StatusCode::from_u16(resp.status().as_u16())
        .map_err(|e| Error::internal("the supervisor's status", e))?;
    let mut answer = HttpResponse::build(status);
    for (name, value) in resp.headers() {
        if let Ok(name) = header::HeaderName::from_bytes(name.as_str().as_bytes()) {
            if passes(&name) {
                answer.append_header((name, value.as_bytes()));
            }
        }
    }
    // Streamed, so that a tail of the logs stays live through this replica.
    let stream = resp.bytes_stream().map(|chunk| chunk.map_err(std::io::Error::other));
    Ok(answer.streaming(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dyno_routes_go_to_the_supervisor() {
        for yes in [
            "/apps/a/dynos",
            "/apps/a/dynos/web.1",
            "/apps/a/dynos/run.1/output",
            "/apps/a/logs",
        ] {
            assert!(is_dyno_route(yes), "{yes}");
        }
        for no in [
            "/apps",
            "/apps/a",
            "/apps/a/formation",
            "/apps//dynos",
            "/apps/a/builds",
            "/v2/catalog",
        ] {
            assert!(!is_dyno_route(no), "{no}");
        }
    }
}
