//! OSB extension for messaging services: an instance's topics, created and deleted through the
//! broker because the cluster does not auto-create them. Same auth and version checks, same
//! error format as the OSB API.
//!
//! `PUT /v2/service_instances/{id}/topics/{name}` `{"partitions": 3, "retention_ms": 86400000}`,
//! `GET` and `DELETE` of the same path, and `GET /v2/service_instances/{id}/topics`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::errors::OsbError;
use super::extract::{OsbCaller, OsbCallerWithBody};
use super::input::osb_body;
use super::state::OsbState;
use crate::provisioning::Reply;

/// Body of `PUT …/topics/{name}`; absent fields take the plan's defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicRequest {
    /// Partitions (1 to the plan's maximum; default 1).
    pub partitions: Option<i32>,
    /// `retention.ms` (within the plan's bounds; default the plan's).
    pub retention_ms: Option<i64>,
}

/// A topic.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopicResponse {
    /// Full name, starting with the instance's `prefix`.
    pub name: String,
    /// Partitions.
    pub partitions: i32,
    /// `retention.ms`, as the cluster reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_ms: Option<i64>,
}

/// The topics of an instance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopicListResponse {
    /// Topics, by name.
    pub topics: Vec<TopicResponse>,
}

/// A topic on the wire (the OSB extension's and the platform API's shape).
/// The answer to a topic PUT, on either face: 201 made, 200 already there as asked, 202 with
/// the operation when the provider works asynchronously.
pub(crate) fn put_answer(reply: Reply<providers::TopicInfo>) -> HttpResponse {
    match reply {
        Reply::Created(t) => HttpResponse::Created().json(render(t)),
        Reply::Exists(t) => HttpResponse::Ok().json(render(t)),
        Reply::Accepted(op) => HttpResponse::Accepted().json(json!({ "operation": op })),
    }
}

pub(crate) fn render(t: providers::TopicInfo) -> TopicResponse {
    TopicResponse {
        name: t.name,
        partitions: t.partitions,
        retention_ms: t.retention_ms,
    }
}

/// Create a topic.
#[utoipa::path(put, path = "/v2/service_instances/{instance_id}/topics/{topic}", tag = "osb-topics",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("topic" = String, Path, description = "Full topic name under the instance's prefix"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    request_body = TopicRequest,
    responses(
        (status = 201, description = "Created", body = TopicResponse),
        (status = 200, description = "An identical topic exists", body = TopicResponse),
        (status = 400, description = "Name outside the prefix, invalid for Kafka, or spec beyond the plan", body = OsbError),
        (status = 401, description = "Missing or wrong credentials", body = OsbError),
        (status = 404, description = "No such instance", body = OsbError),
        (status = 409, description = "The topic exists with another spec", body = OsbError),
        (status = 422, description = "The instance is busy or not provisioned", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn put_topic(
    caller: OsbCallerWithBody,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let spec: TopicRequest = if caller.body.iter().all(u8::is_ascii_whitespace) {
        TopicRequest {
            partitions: None,
            retention_ms: None,
        }
    } else {
        osb_body(&caller.body)?
    };
    let (instance_id, name) = path.into_inner();
    let reply = state
        .provisioning
        .put_topic(
            instance_id,
            name,
            spec.partitions,
            spec.retention_ms,
            caller.meta,
            "osb",
        )
        .await?;
    Ok(put_answer(reply))
}

/// Describe a topic.
#[utoipa::path(get, path = "/v2/service_instances/{instance_id}/topics/{topic}", tag = "osb-topics",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("topic" = String, Path, description = "Full topic name"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "The topic", body = TopicResponse),
        (status = 404, description = "No such instance or topic", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn get_topic(
    _caller: OsbCaller,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let (instance_id, name) = path.into_inner();
    let topic = state.provisioning.get_topic(instance_id, name).await?;
    Ok(HttpResponse::Ok().json(render(topic)))
}

/// Delete a topic.
#[utoipa::path(delete, path = "/v2/service_instances/{instance_id}/topics/{topic}", tag = "osb-topics",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("topic" = String, Path, description = "Full topic name"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "Deleted", body = Object),
        (status = 400, description = "Name outside the prefix", body = OsbError),
        (status = 404, description = "No such instance", body = OsbError),
        (status = 410, description = "No such topic", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn delete_topic(
    caller: OsbCallerWithBody,
    path: web::Path<(String, String)>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let (instance_id, name) = path.into_inner();
    state
        .provisioning
        .delete_topic(instance_id, name, caller.meta, "osb")
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// List an instance's topics.
#[utoipa::path(get, path = "/v2/service_instances/{instance_id}/topics", tag = "osb-topics",
    params(("instance_id" = String, Path, description = "Instance id"),
           ("X-Broker-API-Version" = String, Header, description = "2.13 or later")),
    responses(
        (status = 200, description = "The instance's topics", body = TopicListResponse),
        (status = 404, description = "No such instance", body = OsbError)),
    security(("basic_auth" = [])))]
pub async fn list_topics(
    _caller: OsbCaller,
    path: web::Path<String>,
    state: web::Data<OsbState>,
) -> Result<HttpResponse, OsbError> {
    let topics = state.provisioning.list_topics(path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(TopicListResponse {
        topics: topics.into_iter().map(render).collect(),
    }))
}

/// Mounts the topic routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v2/service_instances/{instance_id}/topics", web::get().to(list_topics))
        .service(
            web::resource("/v2/service_instances/{instance_id}/topics/{topic}")
                .route(web::put().to(put_topic))
                .route(web::get().to(get_topic))
                .route(web::delete().to(delete_topic)),
        );
}
