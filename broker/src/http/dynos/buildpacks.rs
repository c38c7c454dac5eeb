//! An app's buildpacks (Heroku's `/apps/{app}/buildpack-installations`).

use actix_web::{web, HttpResponse};

use crate::dynos::{BuildpackInstallationView, BuildpackInstallationsUpdate};
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::state::PlatformState;

/// An app's buildpacks in the order its builds run them (empty: the built-ins' detection).
#[utoipa::path(get, path = "/apps/{app}/buildpack-installations", tag = "dynos",
    params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<BuildpackInstallationView>), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_buildpack_installations(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .dynos
        .buildpack_installations(path.into_inner(), &caller.actor)
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Sets an app's buildpacks, in order: built-in names (`heroku/python`, `heroku/nodejs`,
/// `heroku/procfile`), absolute paths under `builds.buildpack_paths`, or http(s) URLs of a
/// `.tar.gz`. The next build runs them; an empty list returns to detection.
#[utoipa::path(put, path = "/apps/{app}/buildpack-installations", tag = "dynos",
    params(("app" = String, Path, description = "id or name")),
    request_body = BuildpackInstallationsUpdate,
    responses((status = 200, body = Vec<BuildpackInstallationView>), (status = 400, body = ApiError),
              (status = 404, body = ApiError), (status = 422, description = "An unknown or refused buildpack", body = ApiError)),
    security(("bearer" = [])))]
pub async fn update_buildpack_installations(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let app = path.into_inner();
    // Access first: a stranger learns nothing from how its body is judged.
    state.dynos.buildpack_installations(app.clone(), &caller.actor).await?;
    let b: BuildpackInstallationsUpdate = json_body(&caller.body, false)?;
    let urls = b.updates.into_iter().map(|u| u.buildpack).collect();
    let list = state
        .dynos
        .set_buildpack_installations(app, urls, &caller.actor)
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
