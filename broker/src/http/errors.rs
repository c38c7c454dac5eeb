//! The two error formats of the HTTP faces: the platform's `{"id", "message"}` ([`ApiError`],
//! also the admin and provider APIs') and OSB's `{"error", "description"}` ([`OsbError`]). Both
//! are actix [`ResponseError`]s, so handlers return them with `?` and extractors fail with them;
//! both keep the broker [`Error`] they render, so that [`log_internal`] can log its cause under
//! the request id.

use std::fmt;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{log_if_internal, Error, RETRY_AFTER_SECS};

/// Platform and admin API error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// Machine-readable id (`not_found`, `conflict` …).
    pub id: String,
    /// What went wrong.
    pub message: String,
    #[serde(skip)]
    status: StatusCode,
    /// The broker error rendered; `None` for the framework's own errors.
    #[serde(skip)]
    cause: Option<Error>,
}

impl ApiError {
    /// An error the framework answered by itself (`payload_too_large` …), in this format.
    pub fn framework(status: StatusCode, id: &str, message: &str) -> ApiError {
        ApiError {
            id: id.into(),
            message: message.into(),
            status,
            cause: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        let err = err.nul_is_bad_request();
        ApiError {
            id: err.id().into(),
            message: err.public_message(),
            status: err.status(),
            cause: Some(err),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        retry_after(&mut res, self.status);
        res.json(self)
    }
}

/// OSB error body: `{"error": "AsyncRequired", "description": "…"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OsbError {
    /// Machine-readable code, for the errors the spec names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went wrong.
    pub description: String,
    #[serde(skip)]
    status: StatusCode,
    /// The broker error rendered; `None` for the framework's own errors.
    #[serde(skip)]
    cause: Option<Error>,
}

impl OsbError {
    /// An error the framework answered by itself (or no route), in this format.
    pub fn framework(status: StatusCode, description: String) -> OsbError {
        OsbError {
            error: None,
            description,
            status,
            cause: None,
        }
    }
}

impl From<Error> for OsbError {
    fn from(err: Error) -> OsbError {
        let err = err.nul_is_bad_request();
        OsbError {
            error: err.osb_code().map(str::to_string),
            description: err.public_message(),
            status: err.status(),
            cause: Some(err),
        }
    }
}

impl fmt::Display for OsbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl ResponseError for OsbError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if matches!(self.cause, Some(Error::Unauthorized(_))) {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"addon-broker\""));
        }
        retry_after(&mut res, self.status);
        res.json(self)
    }
}

/// A 503 tells the client when to try again (RFC 9110 §10.2.3).
fn retry_after(res: &mut actix_web::HttpResponseBuilder, status: StatusCode) {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
    }
}

/// Logs the cause of a response's error when the client saw only a generic 5xx. The request id
/// is known where responses pass the request-id middleware, not where errors are rendered, so
/// the log line is written there.
pub fn log_internal(err: &actix_web::Error, request_id: &str) {
    let cause = match (err.as_error::<ApiError>(), err.as_error::<OsbError>()) {
        (Some(api), _) => api.cause.as_ref(),
        (_, Some(osb)) => osb.cause.as_ref(),
        _ => None,
    };
    if let Some(cause) = cause {
        log_if_internal(cause, request_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_renders_id_and_message_only() {
        let err = ApiError::from(Error::NotFound("no app x".into()));
        assert_eq!(err.status_code(), StatusCode::NOT_FOUND);
        let body = serde_json::to_value(&err).unwrap();
        assert_eq!(body, serde_json::json!({"id": "not_found", "message": "no app x"}));
    }

    #[test]
    fn an_osb_error_hides_internals_and_asks_for_basic_auth_on_401() {
        let err = OsbError::from(Error::Internal("secret detail".into()));
        let body = serde_json::to_value(&err).unwrap();
        assert!(!body["description"].as_str().unwrap().contains("secret"));
        assert!(body.get("error").is_none());
        let res = OsbError::from(Error::Unauthorized("no".into())).error_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
        let code = OsbError::from(Error::AsyncRequired("x".into()));
        assert_eq!(serde_json::to_value(&code).unwrap()["error"], "AsyncRequired");
    }
}
