//! What the OSB resources share: the answers to asynchronous requests and to `last_operation`,
//! `maintenance_info`, and the spec's rules for parameters (empty strings are missing, objects
//! may be null).

use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::catalog::clip;
use crate::error::Error;
use crate::provisioning::LastOperation;

/// `maintenance_info` in requests.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MaintenanceInfoBody {
    /// Maintenance version the platform expects.
    pub version: Option<String>,
}

/// Answer to any request accepted for asynchronous processing (202).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AsyncOperationResponse {
    /// Operation id to pass to `last_operation`.
    pub operation: String,
}

/// `last_operation` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LastOperationResponse {
    /// `in progress`, `succeeded` or `failed`.
    pub state: String,
    /// What happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the instance still works after a failed update or deprovision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_usable: Option<bool>,
    /// Whether a failed update may be repeated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_repeatable: Option<bool>,
}

/// `accepts_incomplete`: `true`, or `false` when absent or empty.
pub fn accepts_incomplete(q: &BTreeMap<String, String>) -> Result<bool, Error> {
    match q.get("accepts_incomplete").map(String::as_str) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Error::BadRequest(format!(
            "accepts_incomplete must be true or false, got {}",
            clip(other)
        ))),
    }
}

/// A present, non-empty value; the spec treats empty strings as missing.
pub fn required(value: Option<String>, name: &str) -> Result<String, Error> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::BadRequest(format!("{name} is required"))),
    }
}

/// A non-empty value, or none.
pub fn optional(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// A JSON object, `{}` when absent or null.
pub fn object(value: Option<Value>, name: &str) -> Result<Value, Error> {
    match value {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(Error::BadRequest(format!("{name} must be a JSON object"))),
    }
}

/// 202 with the operation to poll.
pub fn async_reply(op: String) -> HttpResponse {
    HttpResponse::Accepted().json(AsyncOperationResponse { operation: op })
}

/// 200 with an operation's state, and `Retry-After` while it is in progress.
pub fn last_operation_response(op: LastOperation, retry_after: u64) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    if op.state == "in progress" {
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            res.insert_header((header::RETRY_AFTER, v));
        }
    }
    res.json(LastOperationResponse {
        state: op.state.into(),
        description: op.description,
        instance_usable: op.instance_usable,
        update_repeatable: op.update_repeatable,
    })
}
