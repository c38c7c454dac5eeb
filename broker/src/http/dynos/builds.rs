//! Builds and slugs: a `.tar.gz` of the app's source becomes a slug, a release and restarted
//! dynos.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::dynos::{BuildView, SlugView};
use crate::error::Error;
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::state::PlatformState;

/// Build: upload a `.tar.gz` of the app's source (with a `Procfile` at its top level) as
/// the request body (`Content-Type: application/gzip`). The archive becomes a slug; the
/// Procfile's `release` command, if any, runs on it; then a release pins slug and config
/// vars, and the dynos restart on it. A failing release phase answers a `failed` build and
/// leaves the current release running.
#[utoipa::path(post, path = "/apps/{app}/builds", tag = "dynos", params(("app" = String, Path, description = "id or name")),
    request_body(content = Vec<u8>, content_type = "application/gzip", description = ".tar.gz of the app's source"),
    responses((status = 201, description = "Built (see status)", body = BuildView),
              (status = 400, description = "Not a .tar.gz, unsafe paths, no or bad Procfile", body = ApiError),
              (status = 404, body = ApiError), (status = 413, description = "Archive too large", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_build(
    caller: PlatformCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        return Err(Error::BadRequest(
            "send the .tar.gz itself as the body (Content-Type: application/gzip); source_blob URLs are not fetched"
                .into(),
        )
        .into());
    }
    let build = state
        .dynos
        .build(path.into_inner(), caller.body.to_vec(), &caller.actor)
        .await?;
    Ok(HttpResponse::Created().json(build))
}

/// An app's builds, oldest first.
#[utoipa::path(get, path = "/apps/{app}/builds", tag = "dynos", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<BuildView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn list_builds(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.dynos.builds(path.into_inner(), &caller.actor).await?))
}

/// One build.
#[utoipa::path(get, path = "/apps/{app}/builds/{build}", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("build" = String, Path, description = "build id")),
    responses((status = 200, body = BuildView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_build(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.dynos.get_build(app, id, &caller.actor).await?))
}

/// One slug: its process types, size and checksum.
#[utoipa::path(get, path = "/apps/{app}/slugs/{slug}", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("slug" = String, Path, description = "slug id")),
    responses((status = 200, body = SlugView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_slug(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.dynos.slug(app, id, &caller.actor).await?))
}
