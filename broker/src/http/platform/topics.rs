//! Kafka topics of an app's add-on, with a platform token: the OSB topic extension's requests,
//! answers and rules (`crate::http::topics`) under `/apps/{app}/addons/{addon}/topics`, in the
//! platform's error format.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::state::PlatformState;
use crate::http::topics::{put_answer, render, TopicListResponse, TopicRequest, TopicResponse};

/// Create a topic of a Kafka add-on (full name, under its `KAFKA_PREFIX`); an empty body takes
/// the plan's defaults.
#[utoipa::path(put, path = "/apps/{app}/addons/{addon}/topics/{topic}", tag = "platform",
    params(("app" = String, Path, description = "id or name"),
           ("addon" = String, Path, description = "name, id, attachment name on the app (`KAFKA`) or unambiguous service name (`kafka`)"),
           ("topic" = String, Path, description = "Full topic name under the add-on's prefix")),
    request_body = TopicRequest,
    responses(
        (status = 201, description = "Created", body = TopicResponse),
        (status = 200, description = "An identical topic exists", body = TopicResponse),
        (status = 400, description = "Name outside the prefix, invalid for Kafka, or spec beyond the plan", body = ApiError),
        (status = 404, description = "No such app, or no such add-on on it", body = ApiError),
        (status = 409, description = "The topic exists with another spec", body = ApiError),
        (status = 422, description = "Not a Kafka add-on, not provisioned, busy, or an ambiguous name", body = ApiError)),
    security(("bearer" = [])))]
pub async fn put_addon_topic(
    caller: PlatformCaller,
    path: web::Path<(String, String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let spec: TopicRequest = json_body(&caller.body, true)?;
    let (app, addon, topic) = path.into_inner();
    let reply = state
        .platform
        .put_topic(
            app.into(),
            addon.into(),
            topic,
            spec.partitions,
            spec.retention_ms,
            &caller.actor,
        )
        .await?;
    Ok(put_answer(reply))
}

/// Describe a topic of a Kafka add-on.
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}/topics/{topic}", tag = "platform",
    params(("app" = String, Path, description = "id or name"),
           ("addon" = String, Path, description = "name, id, attachment name or unambiguous service name"),
           ("topic" = String, Path, description = "Full topic name")),
    responses(
        (status = 200, description = "The topic", body = TopicResponse),
        (status = 404, description = "No such app, add-on or topic", body = ApiError),
        (status = 422, description = "Not a Kafka add-on, not provisioned, or an ambiguous name", body = ApiError)),
    security(("bearer" = [])))]
pub async fn get_addon_topic(
    caller: PlatformCaller,
    path: web::Path<(String, String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, addon, topic) = path.into_inner();
    let topic = state
        .platform
        .get_topic(app.into(), addon.into(), topic, &caller.actor)
        .await?;
    Ok(HttpResponse::Ok().json(render(topic)))
}

/// Delete a topic of a Kafka add-on.
#[utoipa::path(delete, path = "/apps/{app}/addons/{addon}/topics/{topic}", tag = "platform",
    params(("app" = String, Path, description = "id or name"),
           ("addon" = String, Path, description = "name, id, attachment name or unambiguous service name"),
           ("topic" = String, Path, description = "Full topic name")),
    responses(
        (status = 200, description = "Deleted", body = Object),
        (status = 400, description = "Name outside the prefix", body = ApiError),
        (status = 404, description = "No such app, or no such add-on on it", body = ApiError),
        (status = 410, description = "No such topic", body = ApiError),
        (status = 422, description = "Not a Kafka add-on, not provisioned, busy, or an ambiguous name", body = ApiError)),
    security(("bearer" = [])))]
pub async fn delete_addon_topic(
    caller: PlatformCaller,
    path: web::Path<(String, String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, addon, topic) = path.into_inner();
    state
        .platform
        .delete_topic(app.into(), addon.into(), topic, &caller.actor)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// The topics of a Kafka add-on.
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}/topics", tag = "platform",
    params(("app" = String, Path, description = "id or name"),
           ("addon" = String, Path, description = "name, id, attachment name or unambiguous service name")),
    responses(
        (status = 200, description = "The add-on's topics", body = TopicListResponse),
        (status = 404, description = "No such app, or no such add-on on it", body = ApiError),
        (status = 422, description = "Not a Kafka add-on, not provisioned, or an ambiguous name", body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_addon_topics(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, addon) = path.into_inner();
    let topics = state
        .platform
        .list_topics(app.into(), addon.into(), &caller.actor)
        .await?;
    Ok(HttpResponse::Ok().json(TopicListResponse {
        topics: topics.into_iter().map(render).collect(),
    }))
}
