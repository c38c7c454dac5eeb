//! Service instances: provision, update, deprovision, fetch, and `last_operation`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::common::{
    accepts_incomplete, async_reply, last_operation_response, object, optional, required, AsyncOperationResponse,
    LastOperationResponse, MaintenanceInfoBody,
};
use crate::http::errors::OsbError;
use crate::http::extract::{OsbCaller, OsbCallerWithBody};
use crate::http::input::{osb_body, query};
use crate::http::state::OsbState;
use crate::provisioning::{ProvisionInput, Reply, UpdateInput};

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

/// Answer to a provision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvisionResponse {
    /// Dashboard of the instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
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
    caller: OsbCallerWithBody,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let q = query(&req)?;
    let accepts_incomplete = accepts_incomplete(&q)?;
    let b: ProvisionRequest = osb_body(&caller.body)?;
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
    Ok(match state.provisioning.provision(input, caller.meta).await? {
        Reply::Created(url) => HttpResponse::Created().json(ProvisionResponse { dashboard_url: url }),
        Reply::Exists(url) => HttpResponse::Ok().json(ProvisionResponse { dashboard_url: url }),
        Reply::Accepted(op) => async_reply(op),
    })
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
    caller: OsbCallerWithBody,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let q = query(&req)?;
    let accepts_incomplete = accepts_incomplete(&q)?;
    let b: UpdateInstanceRequest = osb_body(&caller.body)?;
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
    Ok(match state.provisioning.update(input, caller.meta).await? {
        Reply::Accepted(op) => async_reply(op),
        _ => HttpResponse::Ok().json(json!({})),
    })
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
    caller: OsbCallerWithBody,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let q = query(&req)?;
    let accepts_incomplete = accepts_incomplete(&q)?;
    let service_id = required(q.get("service_id").cloned(), "service_id")?;
    let plan_id = required(q.get("plan_id").cloned(), "plan_id")?;
    let reply = state
        .provisioning
        .deprovision(path.into_inner(), service_id, plan_id, accepts_incomplete, caller.meta)
        .await?;
    Ok(match reply {
        Reply::Accepted(op) => async_reply(op),
        _ => HttpResponse::Ok().json(json!({})),
    })
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
    _caller: OsbCaller,
    path: web::Path<String>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let view = state.provisioning.get_instance(path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(InstanceResponse {
        service_id: view.service_id,
        plan_id: view.plan_id,
        dashboard_url: view.dashboard_url,
        parameters: view.parameters,
        maintenance_info: view.maintenance_version.map(|v| json!({ "version": v })),
    }))
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
    _caller: OsbCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let q = query(&req)?;
    let op = q.get("operation").cloned().filter(|s| !s.is_empty());
    let op = state
        .provisioning
        .instance_last_operation(path.into_inner(), op)
        .await?;
    Ok(last_operation_response(op, state.retry_after_secs))
}
