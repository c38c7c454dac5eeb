//! Service bindings: bind, unbind, fetch, and `last_operation`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::common::{
    accepts_incomplete, async_reply, last_operation_response, object, optional, required, AsyncOperationResponse,
    LastOperationResponse,
};
use crate::http::errors::OsbError;
use crate::http::extract::{OsbCaller, OsbCallerWithBody};
use crate::http::input::{osb_body, query};
use crate::http::state::OsbState;
use crate::provisioning::{BindInput, BindingView, Reply};

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
    caller: OsbCallerWithBody,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let q = query(&req)?;
    let accepts_incomplete = accepts_incomplete(&q)?;
    let b: BindRequest = osb_body(&caller.body)?;
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
    let render = |v: BindingView| BindingResponse {
        credentials: Value::Object(v.credentials),
        parameters: None,
    };
    Ok(match state.provisioning.bind(input, caller.meta).await? {
        Reply::Created(v) => HttpResponse::Created().json(render(v)),
        Reply::Exists(v) => HttpResponse::Ok().json(render(v)),
        Reply::Accepted(op) => async_reply(op),
    })
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
    caller: OsbCallerWithBody,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let q = query(&req)?;
    let accepts_incomplete = accepts_incomplete(&q)?;
    let service_id = required(q.get("service_id").cloned(), "service_id")?;
    let plan_id = required(q.get("plan_id").cloned(), "plan_id")?;
    let (instance_id, binding_id) = path.into_inner();
    let reply = state
        .provisioning
        .unbind(
            instance_id,
            binding_id,
            service_id,
            plan_id,
            accepts_incomplete,
            caller.meta,
        )
        .await?;
    Ok(match reply {
        Reply::Accepted(op) => async_reply(op),
        _ => HttpResponse::Ok().json(json!({})),
    })
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
    _caller: OsbCaller,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let (instance_id, binding_id) = path.into_inner();
    let view = state.provisioning.get_binding(instance_id, binding_id).await?;
    Ok(HttpResponse::Ok().json(BindingResponse {
        credentials: Value::Object(view.credentials),
        parameters: Some(view.parameters),
    }))
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
    _caller: OsbCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let q = query(&req)?;
    let op = q.get("operation").cloned().filter(|s| !s.is_empty());
    let (instance_id, binding_id) = path.into_inner();
    let op = state
        .provisioning
        .binding_last_operation(instance_id, binding_id, op)
        .await?;
    Ok(last_operation_response(op, state.retry_after_secs))
}
