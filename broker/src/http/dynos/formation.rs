//! The formation: quantity and size per process type.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::dynos::{FormationUpdate, FormationView};
use crate::error::Error;
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::state::PlatformState;

/// Body of `PATCH /apps/{app}/formation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormationBatchRequest {
    /// Changes, applied all or none.
    pub updates: Vec<FormationUpdate>,
}

/// Body of `PATCH /apps/{app}/formation/{type}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormationTypeRequest {
    /// Dynos wanted.
    pub quantity: Option<i32>,
    /// Dyno size.
    pub size: Option<String>,
}

/// An app's formation: quantity and size per process type.
#[utoipa::path(get, path = "/apps/{app}/formation", tag = "dynos", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<FormationView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn list_formation(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.dynos.formation(path.into_inner(), &caller.actor).await?))
}

/// One process type's formation.
#[utoipa::path(get, path = "/apps/{app}/formation/{type}", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("type" = String, Path, description = "process type")),
    responses((status = 200, body = FormationView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_formation(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, t) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.dynos.formation_of(app, t, &caller.actor).await?))
}

/// Scale and resize several process types at once (all or none).
#[utoipa::path(patch, path = "/apps/{app}/formation", tag = "dynos", params(("app" = String, Path, description = "id or name")),
    request_body = FormationBatchRequest,
    responses((status = 200, body = Vec<FormationView>), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, description = "Unknown app or process type", body = ApiError),
              (status = 422, description = "Quantity out of range, unknown size, or no build yet", body = ApiError)),
    security(("bearer" = [])))]
pub async fn update_formation(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: FormationBatchRequest = json_body(&caller.body, false)?;
    Ok(HttpResponse::Ok().json(
        state
            .dynos
            .update_formation(path.into_inner(), b.updates, &caller.actor)
            .await?,
    ))
}

/// Scale or resize one process type.
#[utoipa::path(patch, path = "/apps/{app}/formation/{type}", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("type" = String, Path, description = "process type")),
    request_body = FormationTypeRequest,
    responses((status = 200, body = FormationView), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 422, description = "Quantity out of range, unknown size, or no build yet", body = ApiError)),
    security(("bearer" = [])))]
pub async fn update_formation_type(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, t) = path.into_inner();
    let b: FormationTypeRequest = json_body(&caller.body, false)?;
    let update = FormationUpdate {
        process_type: Some(t),
        quantity: b.quantity,
        size: b.size,
    };
    let mut changed = state.dynos.update_formation(app, vec![update], &caller.actor).await?;
    let changed = changed
        .pop()
        .ok_or_else(|| Error::Internal("no formation changed".into()))?;
    Ok(HttpResponse::Ok().json(changed))
}
