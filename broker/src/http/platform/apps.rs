//! Apps: create, list, show, rename or transfer, delete.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::{json_body, query};
use crate::http::paging::paginate;
use crate::http::state::PlatformState;
use crate::platform::{AppChange, AppView};

/// Body of `POST /apps`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppCreateRequest {
    /// `^[a-z][a-z0-9-]{2,29}$`; generated when absent.
    pub name: Option<String>,
    /// The team (name or id) that owns it; the caller must belong to it. Absent: the caller's.
    #[serde(default)]
    pub team: Option<String>,
}

/// Body of `PATCH /apps/{app}`: any of a new name and a new owner (the app's owner or a team
/// admin only).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppUpdateRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Transfer to this person, who must already be a collaborator (or a member of its team).
    #[serde(default)]
    pub owner: Option<String>,
    /// Transfer into this team (name or id), which the caller must belong to.
    #[serde(default)]
    pub team: Option<String>,
}

/// Body of `DELETE /apps/{app}` (or `?confirm=`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppDeleteRequest {
    /// The app's name, required when it has add-ons.
    pub confirm: Option<String>,
}

/// Create an app.
#[utoipa::path(post, path = "/apps", tag = "platform", request_body = AppCreateRequest,
    responses((status = 201, body = AppView), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 409, description = "Name taken", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_app(caller: PlatformCaller, state: web::Data<PlatformState>) -> Result<HttpResponse, ApiError> {
    let b: AppCreateRequest = json_body(&caller.body, true)?;
    let app = state.platform.create_app(b.name, b.team, &caller.actor).await?;
    Ok(HttpResponse::Created().json(app))
}

/// List apps (`Range: name ..; max=200`).
#[utoipa::path(get, path = "/apps", tag = "platform",
    responses((status = 200, body = Vec<AppView>), (status = 206, description = "A page; see Next-Range", body = Vec<AppView>)),
    security(("bearer" = [])))]
pub async fn list_apps(
    caller: PlatformCaller,
    req: HttpRequest,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let apps = state.platform.list_apps(&caller.actor).await?;
    Ok(paginate(&req, apps, &["name", "id"], |a, f| {
        if f == "id" {
            a.id.clone()
        } else {
            a.name.clone()
        }
    })?)
}

/// An app, by id or name.
#[utoipa::path(get, path = "/apps/{app}", tag = "platform", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = AppView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_app(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.platform.get_app(path.into_inner(), &caller.actor).await?))
}

/// Rename and/or transfer an app (its owner or a team admin only).
#[utoipa::path(patch, path = "/apps/{app}", tag = "platform", params(("app" = String, Path, description = "id or name")),
    request_body = AppUpdateRequest,
    responses((status = 200, body = AppView), (status = 400, body = ApiError), (status = 403, description = "Not the owner", body = ApiError),
              (status = 404, body = ApiError), (status = 409, body = ApiError),
              (status = 422, description = "The new owner has no access to the app", body = ApiError)),
    security(("bearer" = [])))]
pub async fn update_app(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: AppUpdateRequest = json_body(&caller.body, false)?;
    let change = AppChange::new(b.name, b.owner, b.team)?;
    Ok(HttpResponse::Ok().json(
        state
            .platform
            .update_app(path.into_inner(), change, &caller.actor)
            .await?,
    ))
}

/// Delete an app; with add-ons, `confirm` must repeat its name.
#[utoipa::path(delete, path = "/apps/{app}", tag = "platform",
    params(("app" = String, Path, description = "id or name"), ("confirm" = Option<String>, Query, description = "the app's name")),
    request_body = AppDeleteRequest,
    responses((status = 200, body = AppView), (status = 404, body = ApiError), (status = 409, description = "Has add-ons; confirm", body = ApiError)),
    security(("bearer" = [])))]
pub async fn delete_app(
    caller: PlatformCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: AppDeleteRequest = json_body(&caller.body, true)?;
    let q = query(&req)?;
    let confirm = b.confirm.or_else(|| q.get("confirm").cloned());
    Ok(HttpResponse::Ok().json(
        state
            .platform
            .delete_app(path.into_inner(), confirm, &caller.actor)
            .await?,
    ))
}
