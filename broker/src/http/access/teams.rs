//! Teams and their members.

use actix_web::{web, HttpResponse};

use crate::access::{NewTeam, TeamMemberChange, TeamMemberView, TeamView};
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::state::PlatformState;

/// Create a team; the caller becomes its admin.
#[utoipa::path(post, path = "/teams", tag = "access", request_body = NewTeam,
    responses((status = 201, body = TeamView), (status = 400, body = ApiError), (status = 409, description = "Name taken", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_team(caller: PlatformCaller, state: web::Data<PlatformState>) -> Result<HttpResponse, ApiError> {
    let b: NewTeam = json_body(&caller.body, false)?;
    Ok(HttpResponse::Created().json(state.access.create_team(&caller.actor, b).await?))
}

/// The teams the caller belongs to.
#[utoipa::path(get, path = "/teams", tag = "access",
    responses((status = 200, body = Vec<TeamView>)), security(("bearer" = [])))]
pub async fn list_teams(caller: PlatformCaller, state: web::Data<PlatformState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.list_teams(&caller.actor).await?))
}

/// A team the caller belongs to.
#[utoipa::path(get, path = "/teams/{team}", tag = "access", params(("team" = String, Path, description = "id or name")),
    responses((status = 200, body = TeamView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_team(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.get_team(&caller.actor, path.into_inner()).await?))
}

/// Delete a team that owns no apps (its admins only).
#[utoipa::path(delete, path = "/teams/{team}", tag = "access", params(("team" = String, Path, description = "id or name")),
    responses((status = 200, body = TeamView), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, description = "It owns apps", body = ApiError)),
    security(("bearer" = [])))]
pub async fn delete_team(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.delete_team(&caller.actor, path.into_inner()).await?))
}

/// A team's members.
#[utoipa::path(get, path = "/teams/{team}/members", tag = "access", params(("team" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<TeamMemberView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn list_members(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.access.team_members(&caller.actor, path.into_inner()).await?))
}

/// Add a member or change a member's role (team admins only); a team keeps one admin.
#[utoipa::path(put, path = "/teams/{team}/members", tag = "access", params(("team" = String, Path, description = "id or name")),
    request_body = TeamMemberChange,
    responses((status = 200, body = TeamMemberView), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError), (status = 422, description = "The last admin", body = ApiError)),
    security(("bearer" = [])))]
pub async fn put_member(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: TeamMemberChange = json_body(&caller.body, false)?;
    Ok(HttpResponse::Ok().json(
        state
            .access
            .put_team_member(&caller.actor, path.into_inner(), b)
            .await?,
    ))
}

/// Remove a member (team admins, or the member themselves); a team keeps one admin.
#[utoipa::path(delete, path = "/teams/{team}/members/{member}", tag = "access",
    params(("team" = String, Path, description = "id or name"), ("member" = String, Path, description = "the person")),
    responses((status = 200, body = TeamMemberView), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 422, description = "The last admin", body = ApiError)),
    security(("bearer" = [])))]
pub async fn remove_member(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (team, member) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.access.remove_team_member(&caller.actor, team, member).await?))
}
