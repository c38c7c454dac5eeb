//! The Open Service Broker API v2.17: catalog, instances, bindings, `last_operation`.
//!
//! Every handler first checks basic auth (401) and then `X-Broker-API-Version` (412), after the
//! body has been read, so a refused request never leaves a half-read body on the connection.

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::RequestId;
use crate::catalog::clip;
use crate::error::log_if_internal;
use crate::error::Error;
use crate::provisioning::{BindInput, LastOperation, ProvisionInput, Provisioning, Reply, RequestMeta, UpdateInput};

/// Lowest supported minor version of OSB 2.x.
pub const MIN_MINOR_VERSION: u32 = 13;

/// What the OSB handlers share.
pub struct OsbState {
    /// The provisioning domain.
    pub provisioning: Provisioning,
    /// Basic auth user.
    pub username: String,
    /// Basic auth password.
    pub password: String,
    /// `Retry-After` seconds for in-progress operations.
    pub retry_after_secs: u64,
}

/// OSB error body: `{"error": "AsyncRequired", "description": "…"}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OsbError {
    /// Machine-readable code, for the errors the spec names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went wrong.
    pub description: String,
}

/// `maintenance_info` in requests.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MaintenanceInfoBody {
    /// Maintenance version the platform expects.
    pub version: Option<String>,
}

/// Body of `PUT /v2/service_instances/{instance_id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProvisionRequest {
    /// Catalog service id.
    pub service_id: Option<String>,
    /// Catalog plan id.
    pub plan_id: Option<String>,
    /// Platform context.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// Deprecated; required by v2.17.
    pub organization_guid: Option<String>,
    /// Deprecated; required by v2.17.
    pub space_guid: Option<String>,
    /// Plan parameters, validated against the plan's schema.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Expected maintenance level.
    pub maintenance_info: Option<MaintenanceInfoBody>,
}

/// Body of `PATCH /v2/service_instances/{instance_id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateInstanceRequest {
    /// Catalog service id.
    pub service_id: Option<String>,
    /// New plan id.
    pub plan_id: Option<String>,
    /// Parameters to change.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Platform context.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// Previous values (informational).
    #[schema(value_type = Option<Object>)]
    pub previous_values: Option<Value>,
    /// Expected maintenance level.
    pub maintenance_info: Option<MaintenanceInfoBody>,
}

/// Body of `PUT …/service_bindings/{binding_id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BindRequest {
    /// Catalog service id.
    pub service_id: Option<String>,
    /// Catalog plan id.
    pub plan_id: Option<String>,
    /// Platform context.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// Deprecated application id.
    pub app_guid: Option<String>,
    /// What the binding is for.
    #[schema(value_type = Option<Object>)]
    pub bind_resource: Option<Value>,
    /// Binding parameters.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
}

/// Answer to a provision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvisionResponse {
    /// Dashboard of the instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
}

/// Answer to any request accepted for asynchronous processing (202).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AsyncOperationResponse {
    /// Operation id to pass to `last_operation`.
    pub operation: String,
}

/// `GET /v2/service_instances/{instance_id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InstanceResponse {
    /// Service id.
    pub service_id: String,
    /// Plan id.
    pub plan_id: String,
    /// Dashboard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    /// Parameters.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// Maintenance level.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_info: Option<Value>,
}

/// A binding's credentials.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BindingResponse {
    /// Credentials: `uri`, `host`, `port`, `database`, `username`, `password` for PostgreSQL.
    #[schema(value_type = Object)]
    pub credentials: Value,
    /// Binding parameters.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
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

/// Renders an error in the OSB format.
pub(crate) fn osb_error(err: Error, request_id: &str) -> HttpResponse {
    log_if_internal(&err, request_id);
    let mut res = HttpResponse::build(err.status());
    if matches!(err, Error::Unauthorized(_)) {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"addon-broker\""));
    }
    res.json(OsbError {
        error: err.osb_code().map(str::to_string),
        description: err.public_message(),
    })
}

/// Checks auth, then the API version, and reads the audit identity.
pub(crate) fn guard(req: &HttpRequest, state: &OsbState, request_id: &RequestId) -> Result<RequestMeta, Error> {
    let unauthorized = || Error::Unauthorized("missing or wrong basic auth credentials".into());
    let header = req.headers().get(header::AUTHORIZATION).ok_or_else(unauthorized)?;
    let encoded = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Basic "))
        .ok_or_else(unauthorized)?;
    let decoded = B64.decode(encoded.trim()).map_err(|_| unauthorized())?;
    let (user, pass) = match decoded.iter().position(|&b| b == b':') {
        Some(i) => (&decoded[..i], &decoded[i + 1..]),
        None => return Err(unauthorized()),
    };
    let ok = user.ct_eq(state.username.as_bytes()) & pass.ct_eq(state.password.as_bytes());
    if !bool::from(ok) {
        return Err(unauthorized());
    }

    let version = req.headers().get("x-broker-api-version").and_then(|v| v.to_str().ok());
    let supported = version
        .and_then(|v| v.strip_prefix("2."))
        .and_then(|minor| minor.parse::<u32>().ok())
        .is_some_and(|minor| minor >= MIN_MINOR_VERSION);
    if !supported {
        return Err(Error::PreconditionFailed(format!(
            "X-Broker-API-Version must be 2.{MIN_MINOR_VERSION} or a later 2.x; got {}",
            version.map(clip).unwrap_or_else(|| "none".into())
        )));
    }

    let actor = req
        .headers()
        .get("x-broker-api-originating-identity")
        .and_then(|v| v.to_str().ok())
        .map(decode_identity);
    Ok(RequestMeta {
        request_id: Some(request_id.0.clone()),
        actor,
    })
}

/// `platform base64(json)` → `platform {json}`; kept raw (clipped) when it does not decode.
fn decode_identity(header: &str) -> String {
    let mut parts = header.splitn(2, ' ');
    let platform = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or_default();
    match B64.decode(value.trim()).ok().and_then(|b| String::from_utf8(b).ok()) {
        Some(json) => clip(&format!("{platform} {json}")),
        None => clip(header),
    }
}

pub(crate) fn query(req: &HttpRequest) -> Result<HashMap<String, String>, Error> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| Error::BadRequest(format!("malformed query string: {e}")))
}

pub(crate) fn accepts_incomplete(q: &HashMap<String, String>) -> Result<bool, Error> {
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
pub(crate) fn required(value: Option<String>, name: &str) -> Result<String, Error> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::BadRequest(format!("{name} is required"))),
    }
}

fn optional(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

pub(crate) fn object(value: Option<Value>, name: &str) -> Result<Value, Error> {
    match value {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(Error::BadRequest(format!("{name} must be a JSON object"))),
    }
}

pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest("request body must be a JSON object".into()));
    }
    serde_json::from_slice(body).map_err(|e| Error::BadRequest(clip(&format!("request body is not valid: {e}"))))
}

fn async_reply(op: String) -> HttpResponse {
    HttpResponse::Accepted().json(AsyncOperationResponse { operation: op })
}

fn last_operation_response(op: LastOperation, retry_after: u64) -> HttpResponse {
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

macro_rules! osb_try {
    ($e:expr, $rid:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return osb_error(err, &$rid.0),
        }
    };
}

/// The service catalog.
#[utoipa::path(get, path = "/v2/catalog", tag = "osb",
    params(("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "The catalog", body = Object),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn get_catalog(req: HttpRequest, state: web::Data<OsbState>, rid: RequestId) -> HttpResponse {
    osb_try!(guard(&req, &state, &rid), rid);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.provisioning.catalog().body().to_vec())
}

/// Provision an instance.
#[utoipa::path(put, path = "/v2/service_instances/{instance_id}", tag = "osb",
    params(("instance_id" = String, Path, description = "1–64 of A-Z a-z 0-9 . _ -"),
           ("accepts_incomplete" = Option<bool>, Query, description = "The platform polls last_operation"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    request_body = ProvisionRequest,
    responses(
        (status = 200, description = "Identical instance exists", body = ProvisionResponse),
        (status = 201, description = "Provisioned", body = ProvisionResponse),
        (status = 202, description = "Provisioning in progress", body = AsyncOperationResponse),
        (status = 400, description = "Malformed request or invalid parameters", body = OsbError),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 409, description = "Same id, different attributes", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError),
        (status = 422, description = "AsyncRequired, ConcurrencyError or MaintenanceInfoConflict", body = OsbError),
        (status = 502, description = "The backing service failed", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn put_instance(
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    let meta = osb_try!(guard(&req, &state, &rid), rid);
    let q = osb_try!(query(&req), rid);
    let result = async {
        let accepts_incomplete = accepts_incomplete(&q)?;
        let b: ProvisionRequest = parse_body(&body)?;
        let input = ProvisionInput {
            instance_id: path.into_inner(),
            service_id: required(b.service_id, "service_id")?,
            plan_id: required(b.plan_id, "plan_id")?,
            organization_guid: required(b.organization_guid, "organization_guid")?,
            space_guid: required(b.space_guid, "space_guid")?,
            context: object(b.context, "context")?,
            parameters: object(b.parameters, "parameters")?,
            maintenance_version: b.maintenance_info.and_then(|m| optional(m.version)),
            accepts_incomplete,
            prefer_wait: None,
        };
        state.provisioning.provision(input, meta).await
    }
    .await;
    match osb_try!(result, rid) {
        Reply::Created(url) => HttpResponse::Created().json(ProvisionResponse { dashboard_url: url }),
        Reply::Exists(url) => HttpResponse::Ok().json(ProvisionResponse { dashboard_url: url }),
        Reply::Accepted(op) => async_reply(op),
    }
}

/// Update an instance's plan or parameters.
#[utoipa::path(patch, path = "/v2/service_instances/{instance_id}", tag = "osb",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("accepts_incomplete" = Option<bool>, Query, description = "The platform polls last_operation"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    request_body = UpdateInstanceRequest,
    responses(
        (status = 200, description = "Updated", body = Object),
        (status = 202, description = "Update in progress", body = AsyncOperationResponse),
        (status = 400, description = "Malformed request or invalid parameters", body = OsbError),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 404, description = "No such instance", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError),
        (status = 422, description = "Impossible change, AsyncRequired, ConcurrencyError or MaintenanceInfoConflict", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn patch_instance(
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    let meta = osb_try!(guard(&req, &state, &rid), rid);
    let q = osb_try!(query(&req), rid);
    let result = async {
        let accepts_incomplete = accepts_incomplete(&q)?;
        let b: UpdateInstanceRequest = parse_body(&body)?;
        let parameters = match b.parameters {
            None | Some(Value::Null) => None,
            other => Some(object(other, "parameters")?),
        };
        let context = match b.context {
            None | Some(Value::Null) => None,
            other => Some(object(other, "context")?),
        };
        let input = UpdateInput {
            instance_id: path.into_inner(),
            service_id: required(b.service_id, "service_id")?,
            plan_id: optional(b.plan_id),
            parameters,
            context,
            maintenance_version: b.maintenance_info.and_then(|m| optional(m.version)),
            accepts_incomplete,
        };
        state.provisioning.update(input, meta).await
    }
    .await;
    match osb_try!(result, rid) {
        Reply::Accepted(op) => async_reply(op),
        _ => HttpResponse::Ok().json(json!({})),
    }
}

/// Deprovision an instance.
#[utoipa::path(delete, path = "/v2/service_instances/{instance_id}", tag = "osb",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("service_id" = String, Query, description = "The instance's service id"),
           ("plan_id" = String, Query, description = "The instance's plan id"),
           ("accepts_incomplete" = Option<bool>, Query, description = "The platform polls last_operation"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "Deprovisioned", body = Object),
        (status = 202, description = "Deprovisioning in progress", body = AsyncOperationResponse),
        (status = 400, description = "Malformed request", body = OsbError),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 410, description = "No such instance", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError),
        (status = 422, description = "AsyncRequired or ConcurrencyError", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn delete_instance(
    req: HttpRequest,
    _body: web::Bytes,
    path: web::Path<String>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    let meta = osb_try!(guard(&req, &state, &rid), rid);
    let result = async {
        let q = query(&req)?;
        let accepts_incomplete = accepts_incomplete(&q)?;
        let service_id = required(q.get("service_id").cloned(), "service_id")?;
        let plan_id = required(q.get("plan_id").cloned(), "plan_id")?;
        state
            .provisioning
            .deprovision(path.into_inner(), service_id, plan_id, accepts_incomplete, meta)
            .await
    }
    .await;
    match osb_try!(result, rid) {
        Reply::Accepted(op) => async_reply(op),
        _ => HttpResponse::Ok().json(json!({})),
    }
}

/// Fetch an instance.
#[utoipa::path(get, path = "/v2/service_instances/{instance_id}", tag = "osb",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "The instance", body = InstanceResponse),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 404, description = "No such instance, or still provisioning", body = OsbError),
        (status = 422, description = "ConcurrencyError: the instance is being updated or deprovisioned", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn get_instance(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    osb_try!(guard(&req, &state, &rid), rid);
    let view = osb_try!(state.provisioning.get_instance(path.into_inner()).await, rid);
    HttpResponse::Ok().json(InstanceResponse {
        service_id: view.service_id,
        plan_id: view.plan_id,
        dashboard_url: view.dashboard_url,
        parameters: view.parameters,
        maintenance_info: view.maintenance_version.map(|v| json!({ "version": v })),
    })
}

/// Poll an instance operation.
#[utoipa::path(get, path = "/v2/service_instances/{instance_id}/last_operation", tag = "osb",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("operation" = Option<String>, Query, description = "Operation id from a 202; unknown values answer for the latest operation"),
           ("service_id" = Option<String>, Query, description = "Informational"),
           ("plan_id" = Option<String>, Query, description = "Informational"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "Operation state; Retry-After while in progress", body = LastOperationResponse),
        (status = 400, description = "Malformed request", body = OsbError),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 404, description = "Unknown instance", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn instance_last_operation(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    osb_try!(guard(&req, &state, &rid), rid);
    let q = osb_try!(query(&req), rid);
    let op = q.get("operation").cloned().filter(|s| !s.is_empty());
    let result = state.provisioning.instance_last_operation(path.into_inner(), op).await;
    last_operation_response(osb_try!(result, rid), state.retry_after_secs)
}

/// Create a binding.
#[utoipa::path(put, path = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}", tag = "osb",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("binding_id" = String, Path, description = "1–64 of A-Z a-z 0-9 . _ -"),
           ("accepts_incomplete" = Option<bool>, Query, description = "The platform polls last_operation"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    request_body = BindRequest,
    responses(
        (status = 200, description = "Identical binding exists", body = BindingResponse),
        (status = 201, description = "Bound", body = BindingResponse),
        (status = 202, description = "Binding in progress", body = AsyncOperationResponse),
        (status = 400, description = "Malformed request or invalid parameters", body = OsbError),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 404, description = "No such instance", body = OsbError),
        (status = 409, description = "Same id, different attributes", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError),
        (status = 422, description = "AsyncRequired or ConcurrencyError", body = OsbError),
        (status = 502, description = "The backing service failed", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn put_binding(
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    let meta = osb_try!(guard(&req, &state, &rid), rid);
    let result = async {
        let q = query(&req)?;
        let accepts_incomplete = accepts_incomplete(&q)?;
        let b: BindRequest = parse_body(&body)?;
        let mut bind_resource = object(b.bind_resource, "bind_resource")?;
        if let (Some(app), Some(map)) = (optional(b.app_guid), bind_resource.as_object_mut()) {
            map.entry("app_guid").or_insert(Value::String(app));
        }
        let (instance_id, binding_id) = path.into_inner();
        let input = BindInput {
            instance_id,
            binding_id,
            service_id: required(b.service_id, "service_id")?,
            plan_id: required(b.plan_id, "plan_id")?,
            context: object(b.context, "context")?,
            bind_resource,
            parameters: object(b.parameters, "parameters")?,
            accepts_incomplete,
        };
        state.provisioning.bind(input, meta).await
    }
    .await;
    let render = |v: crate::provisioning::BindingView| BindingResponse {
        credentials: Value::Object(v.credentials),
        parameters: None,
    };
    match osb_try!(result, rid) {
        Reply::Created(v) => HttpResponse::Created().json(render(v)),
        Reply::Exists(v) => HttpResponse::Ok().json(render(v)),
        Reply::Accepted(op) => async_reply(op),
    }
}

/// Remove a binding.
#[utoipa::path(delete, path = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}", tag = "osb",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("binding_id" = String, Path, description = "Binding id"),
           ("service_id" = String, Query, description = "The instance's service id"),
           ("plan_id" = String, Query, description = "The instance's plan id"),
           ("accepts_incomplete" = Option<bool>, Query, description = "The platform polls last_operation"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "Unbound; the credentials no longer work", body = Object),
        (status = 202, description = "Unbinding in progress", body = AsyncOperationResponse),
        (status = 400, description = "Malformed request", body = OsbError),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 410, description = "No such binding", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError),
        (status = 422, description = "AsyncRequired or ConcurrencyError", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn delete_binding(
    req: HttpRequest,
    _body: web::Bytes,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    let meta = osb_try!(guard(&req, &state, &rid), rid);
    let result = async {
        let q = query(&req)?;
        let accepts_incomplete = accepts_incomplete(&q)?;
        let service_id = required(q.get("service_id").cloned(), "service_id")?;
        let plan_id = required(q.get("plan_id").cloned(), "plan_id")?;
        let (instance_id, binding_id) = path.into_inner();
        state
            .provisioning
            .unbind(instance_id, binding_id, service_id, plan_id, accepts_incomplete, meta)
            .await
    }
    .await;
    match osb_try!(result, rid) {
        Reply::Accepted(op) => async_reply(op),
        _ => HttpResponse::Ok().json(json!({})),
    }
}

/// Fetch a binding.
#[utoipa::path(get, path = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}", tag = "osb",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("binding_id" = String, Path, description = "Binding id"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "The binding", body = BindingResponse),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 404, description = "No such binding, or still binding", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn get_binding(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    osb_try!(guard(&req, &state, &rid), rid);
    let (instance_id, binding_id) = path.into_inner();
    let view = osb_try!(state.provisioning.get_binding(instance_id, binding_id).await, rid);
    HttpResponse::Ok().json(BindingResponse {
        credentials: Value::Object(view.credentials),
        parameters: Some(view.parameters),
    })
}

/// Poll a binding operation.
#[utoipa::path(get, path = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation", tag = "osb",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("binding_id" = String, Path, description = "Binding id"),
           ("operation" = Option<String>, Query, description = "Operation id from a 202"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "Operation state; Retry-After while in progress", body = LastOperationResponse),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 404, description = "Unknown binding", body = OsbError),
        (status = 412, description = "Unsupported API version", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn binding_last_operation(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
    rid: RequestId,
) -> HttpResponse {
    osb_try!(guard(&req, &state, &rid), rid);
    let q = osb_try!(query(&req), rid);
    let op = q.get("operation").cloned().filter(|s| !s.is_empty());
    let (instance_id, binding_id) = path.into_inner();
    let result = state
        .provisioning
        .binding_last_operation(instance_id, binding_id, op)
        .await;
    last_operation_response(osb_try!(result, rid), state.retry_after_secs)
}

/// Answers requests that match no route, in the OSB error format.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(OsbError {
        error: None,
        description: clip(&format!("no such endpoint: {} {}", req.method(), req.path())),
    })
}

/// Mounts the OSB routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v2/catalog", web::get().to(get_catalog))
        .service(
            web::resource("/v2/service_instances/{instance_id}")
                .route(web::put().to(put_instance))
                .route(web::patch().to(patch_instance))
                .route(web::delete().to(delete_instance))
                .route(web::get().to(get_instance)),
        )
        .route(
            "/v2/service_instances/{instance_id}/last_operation",
            web::get().to(instance_last_operation),
        )
        .service(
            web::resource("/v2/service_instances/{instance_id}/service_bindings/{binding_id}")
                .route(web::put().to(put_binding))
                .route(web::delete().to(delete_binding))
                .route(web::get().to(get_binding)),
        )
        .route(
            "/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation",
            web::get().to(binding_last_operation),
        );
}
