//! An app's releases: list, show, and roll config vars back as a new release.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::Error;
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::paging::{numeric_key, paginate};
use crate::http::state::PlatformState;
use crate::platform::ReleaseView;

/// Body of `POST /apps/{app}/releases`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Release id or version to roll config vars back to.
    #[schema(value_type = String)]
    pub release: Value,
}

/// An app's releases (`Range: version ..; max=200`).
#[utoipa::path(get, path = "/apps/{app}/releases", tag = "platform", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<ReleaseView>), (status = 206, body = Vec<ReleaseView>), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_releases(
    caller: PlatformCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list = state.platform.releases(path.into_inner(), &caller.actor).await?;
    Ok(paginate(&req, list, &["version", "id"], |r, f| {
        if f == "id" {
            r.id.clone()
        } else {
            numeric_key(r.version.into())
        }
    })?)
}

/// A release, by id or version.
#[utoipa::path(get, path = "/apps/{app}/releases/{release}", tag = "platform",
    params(("app" = String, Path, description = "id or name"), ("release" = String, Path, description = "id or version")),
    responses((status = 200, body = ReleaseView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_release(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, release) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.platform.release(app, release, &caller.actor).await?))
}

/// Roll config vars and code back to a release's, as a new release: `pending` while its
/// release phase runs (when its code has a `release` process type), then `succeeded` or
/// `failed`. A release without code (v1, or any made before the first build) is a 422.
#[utoipa::path(post, path = "/apps/{app}/releases", tag = "platform", params(("app" = String, Path, description = "id or name")),
    request_body = RollbackRequest,
    responses((status = 201, body = ReleaseView), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 422, body = ApiError, description = "the release has no code")),
    security(("bearer" = [])))]
pub async fn rollback(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: RollbackRequest = json_body(&caller.body, false)?;
    let release = match b.release {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => return Err(Error::BadRequest("release must be a release id or version".into()).into()),
    };
    Ok(HttpResponse::Created().json(
        state
            .platform
            .rollback(path.into_inner(), release, &caller.actor)
            .await?,
    ))
}
