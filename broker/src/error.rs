//! The broker's error type, and how each error maps onto an HTTP status and an OSB error code.
//!
//! Handlers never choose status codes themselves: they return an [`Error`] and the HTTP layer
//! renders it in the wire format of its API.

use actix_web::http::StatusCode;

/// Every way a broker operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown resource (404).
    #[error("{0}")]
    NotFound(String),
    /// Same id, different attributes (409).
    #[error("{0}")]
    Conflict(String),
    /// The resource is already gone (410).
    #[error("{0}")]
    Gone(String),
    /// The client was too slow sending its request body (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// The request body is over its limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Unsupported `X-Broker-API-Version` (412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request needs `accepts_incomplete=true` (422 `AsyncRequired`).
    #[error("{0}")]
    AsyncRequired(String),
    /// Another operation on the instance is in progress (422 `ConcurrencyError`).
    #[error("{0}")]
    ConcurrencyError(String),
    /// The request's `maintenance_info` does not match the plan's (422 `MaintenanceInfoConflict`).
    #[error("{0}")]
    MaintenanceInfoConflict(String),
    /// A well-formed request that cannot be carried out (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The backing service failed the operation (502).
    #[error("{0}")]
    Backend(String),
    /// A server the broker depends on (its state store) is unreachable for now (503 with
    /// `Retry-After`; the outage is logged once where it is seen, not per request).
    #[error("{0}")]
    Unavailable(String),
    /// A state store error (500; the cause is logged, never sent).
    #[error("state store: {0}")]
    Db(#[from] diesel::result::Error),
    /// Any other internal failure (500; the cause is logged, never sent).
    #[error("{0}")]
    Internal(String),
    /// An internal failure that keeps its cause, so the log shows the whole chain (500; never
    /// sent). Build it with [`Error::internal`].
    #[error("{context}")]
    InternalWith {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Result type of broker code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when a write failed on a unique index (a name that is taken).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Error::Db(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// An internal failure while doing `context`, keeping `source` as its cause.
    pub fn internal(context: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::InternalWith {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The error and its causes, outermost first, joined by `: ` (for logs, never for clients).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            // A variant whose message already shows its source (`state store: {0}`) is not
            // repeated.
            let part = c.to_string();
            if !text.ends_with(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            cause = c.source();
        }
        text
    }

    /// PostgreSQL refuses a NUL byte in a text parameter (SQLite stores it): either way a NUL
    /// in a name or id is the client's mistake, a 400, not a 500.
    pub fn nul_is_bad_request(self) -> Error {
        if let Error::Db(diesel::result::Error::DatabaseError(_, info)) = &self {
            if info.message().contains("0x00") {
                return Error::BadRequest("a name or id in the request contains a NUL byte".into());
            }
        }
        self
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Gone(_) => StatusCode::GONE,
            Error::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::AsyncRequired(_)
            | Error::ConcurrencyError(_)
            | Error::MaintenanceInfoConflict(_)
            | Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Backend(_) => StatusCode::BAD_GATEWAY,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Db(_) | Error::Internal(_) | Error::InternalWith { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OSB `error` code, for the errors the spec names.
    pub fn osb_code(&self) -> Option<&'static str> {
        match self {
            Error::AsyncRequired(_) => Some("AsyncRequired"),
            Error::ConcurrencyError(_) => Some("ConcurrencyError"),
            Error::MaintenanceInfoConflict(_) => Some("MaintenanceInfoConflict"),
            _ => None,
        }
    }

    /// A short machine-readable id for the platform API's `{id, message}` format.
    pub fn id(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::Gone(_) => "gone",
            Error::RequestTimeout(_) => "request_timeout",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::PreconditionFailed(_) => "precondition_failed",
            Error::AsyncRequired(_) => "async_required",
            Error::ConcurrencyError(_) => "concurrency_error",
            Error::MaintenanceInfoConflict(_) => "maintenance_info_conflict",
            Error::Unprocessable(_) => "unprocessable",
            Error::Backend(_) => "backend_error",
            Error::Unavailable(_) => "unavailable",
            Error::Db(_) | Error::Internal(_) | Error::InternalWith { .. } => "internal_error",
        }
    }

    /// The message safe to send: internals are replaced by a generic sentence.
    pub fn public_message(&self) -> String {
        match self {
            Error::Db(_) | Error::Internal(_) | Error::InternalWith { .. } => {
                "internal error; the cause is in the broker's log under this request id".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// How long a client is told to wait before retrying after a 503 (`Retry-After`, seconds).
pub const RETRY_AFTER_SECS: u32 = 2;

impl Error {
    /// True for an outage of a server the broker depends on: loops that meet it keep quiet
    /// (the outage was logged once where it was seen) and retry.
    pub fn is_outage(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

/// Drops the outage errors of a background loop's result: the outage is logged once by the
/// state store, and the loop retries on its next round anyway.
pub trait FilterOutage {
    /// `Ok(())` for success or an outage; the error otherwise.
    fn filter_outage(self) -> Result<()>;
}

impl<T> FilterOutage for Result<T> {
    fn filter_outage(self) -> Result<()> {
        match self {
            Err(e) if !e.is_outage() => Err(e),
            _ => Ok(()),
        }
    }
}

/// Logs an error that the client sees only as a generic 5xx.
pub fn log_if_internal(err: &Error, request_id: &str) {
    if err.status().is_server_error() && !err.is_outage() {
        tracing::error!(request_id, error = %err.chain(), "request failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_for_the_log_but_not_for_the_client() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Error::internal("reading the key file", io);
        assert_eq!(err.chain(), "reading the key file: no such file");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.public_message().contains("no such file"));
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let err = Error::Db(diesel::result::Error::NotFound);
        assert_eq!(err.chain(), "state store: Record not found");
    }
}
