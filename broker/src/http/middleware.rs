//! Middleware around every route: request ids (and the log line of an internal error under its
//! id), and the framework's own errors in the APIs' formats.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError};

use super::errors::{log_internal, ApiError, OsbError};
use super::extract::RequestId;

/// Response header carrying the request id on every response.
pub const REQUEST_ID: &str = "request-id";
/// OSB header echoed back unchanged.
pub const REQUEST_IDENTITY: &str = "x-broker-api-request-identity";

fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    (!s.is_empty() && s.len() <= 200 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
        .then(|| s.to_string())
}

/// Middleware: assigns the request id, and puts it (and the OSB request identity) on the
/// response, errors included; logs the cause of an internal error under it.
pub async fn request_ids(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let identity = req.headers().get(REQUEST_IDENTITY).cloned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.call(req).await?;
    if let Some(err) = res.response().error() {
        log_internal(err, &id);
    }
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(HeaderName::from_static(REQUEST_ID), v);
    }
    if let Some(v) = identity {
        headers.insert(HeaderName::from_static(REQUEST_IDENTITY), v);
    }
    Ok(res)
}

/// Middleware: the few errors actix answers by itself before a handler runs (a body over the
/// size limit, a method the route does not have) come back as plain text; this renders them in
/// the API's own error format (OSB's under `/v2/`, the platform's elsewhere), like every other
/// error.
pub async fn framework_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let message = match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is too large: 1 MiB at most (build archives: runtime.max_archive_bytes)"
        }
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method",
        _ => return Ok(res.map_into_boxed_body()),
    };
    let json = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return Ok(res.map_into_boxed_body());
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut new: HttpResponse = if req.path().starts_with("/v2/") {
        OsbError::framework(status, message.into()).error_response()
    } else {
        let id = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else {
            "method_not_allowed"
        };
        ApiError::framework(status, id, message).error_response()
    };
    // Keep the headers the inner layers set (request id, Allow, Connection: close).
    for (name, value) in old.headers() {
        if name != actix_web::http::header::CONTENT_TYPE && name != actix_web::http::header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, new))
}
