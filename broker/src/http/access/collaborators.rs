//! An app's collaborators.

use actix_web::{web, HttpResponse};

use crate::access::{CollaboratorView, NewCollaborator};
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::state::PlatformState;

/// An app's collaborators (anyone with access to it may look).
#[utoipa::path(get, path = "/apps/{app}/collaborators", tag = "access", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<CollaboratorView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn list_collaborators(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.collaborators(&caller.actor, path.into_inner()).await?))
}

/// Give a person access to an app (its owner or a team admin only).
#[utoipa::path(post, path = "/apps/{app}/collaborators", tag = "access", params(("app" = String, Path, description = "id or name")),
    request_body = NewCollaborator,
    responses((status = 201, body = CollaboratorView), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError), (status = 409, description = "Already a collaborator", body = ApiError),
              (status = 422, description = "Already has access as owner or team member", body = ApiError)),
    security(("bearer" = [])))]
pub async fn add_collaborator(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: NewCollaborator = json_body(&caller.body, false)?;
    let view = state
        .access
        .add_collaborator(&caller.actor, path.into_inner(), b)
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Take a person's access away (the owner or a team admin; or the collaborator themselves).
#[utoipa::path(delete, path = "/apps/{app}/collaborators/{collaborator}", tag = "access",
    params(("app" = String, Path, description = "id or name"), ("collaborator" = String, Path, description = "id or person")),
    responses((status = 200, body = CollaboratorView), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn remove_collaborator(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, who) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.access.remove_collaborator(&caller.actor, app, who).await?))
}
