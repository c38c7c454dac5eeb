//! Builds and slugs: a `.tar.gz` of the app's source becomes a slug, a release and restarted
//! dynos.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;

use crate::dynos::{BuildView, SlugView};
use crate::error::Error;
use crate::http::errors::ApiError;
use crate::http::extract::{platform_actor, PlatformCaller};
use crate::http::state::PlatformState;

/// Build: upload a `.tar.gz` of the app's source (with a `Procfile` at its top level) as
/// the request body (`Content-Type: application/gzip`). The archive becomes a slug; the
/// Procfile's `release` command, if any, runs on it; then a release pins slug and config
/// vars, and the dynos restart on it. A failing release phase answers a `failed` build and
/// leaves the current release running. With `Prefer: respond-async` (RFC 7240) it answers 202
/// with the `pending` build once the archive is unpacked, and the build goes on; its
/// `output_stream_url` streams the output as it is written.
#[utoipa::path(post, path = "/apps/{app}/builds", tag = "dynos",
    params(("app" = String, Path, description = "id or name"),
           ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 with the pending build at once")),
    request_body(content = Vec<u8>, content_type = "application/gzip", description = ".tar.gz of the app's source"),
    responses((status = 201, description = "Built (see status)", body = BuildView),
              (status = 202, description = "With `Prefer: respond-async`: the pending build; follow `output_stream_url`", body = BuildView),
              (status = 400, description = "Not a .tar.gz, unsafe paths, no or bad Procfile", body = ApiError),
              (status = 404, body = ApiError),
              (status = 408, description = "The upload stalled (`runtime.upload_idle_timeout_ms`) or took too long (`runtime.upload_timeout_ms`)", body = ApiError),
              (status = 413, description = "Archive over `runtime.max_archive_bytes`", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_build(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    // The token is checked before a byte of the archive is read; the archive goes to disk.
    let actor = platform_actor(&req).await?;
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
    let wait = !prefers_async(&req);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let build = state
        .dynos
        .build(path.into_inner(), body, declared, &actor, wait)
        .await?;
    let build = with_stream_url(&req, build);
    if wait {
        return Ok(HttpResponse::Created().json(build));
    }
    Ok(HttpResponse::Accepted()
        .insert_header(("Preference-Applied", "respond-async"))
        .json(build))
}

/// True when a `Prefer` header asks for `respond-async` (RFC 7240: comma-separated
/// preferences, each `token[=value]` with optional parameters).
fn prefers_async(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .filter_map(|p| p.split([';', '=']).next())
                .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
        })
}

/// The build with its absolute `output_stream_url`, from the request's scheme and host.
fn with_stream_url(req: &HttpRequest, mut b: BuildView) -> BuildView {
    let info = req.connection_info();
    b.output_stream_url = format!(
        "{}://{}/apps/{}/builds/{}/output",
        info.scheme(),
        info.host(),
        b.app.id,
        b.id
    );
    b
}

/// A build's output as it is written (text/plain, chunked): from its first byte, live while
/// the build runs, ending when it ends; the whole output for a finished build.
#[utoipa::path(get, path = "/apps/{app}/builds/{build}/output", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("build" = String, Path, description = "build id")),
    responses((status = 200, description = "The output, streamed until the build ends", content_type = "text/plain"),
              (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn build_output(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, id) = path.into_inner();
    let chunks = state.dynos.build_output(app, id, &caller.actor).await?;
    let body = chunks.map(|c| Ok::<_, actix_web::Error>(web::Bytes::from(c)));
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(body))
}

/// An app's builds, oldest first.
#[utoipa::path(get, path = "/apps/{app}/builds", tag = "dynos", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<BuildView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn list_builds(
    caller: PlatformCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list = state.dynos.builds(path.into_inner(), &caller.actor).await?;
    let list: Vec<BuildView> = list.into_iter().map(|b| with_stream_url(&req, b)).collect();
    Ok(HttpResponse::Ok().json(list))
}

/// One build.
#[utoipa::path(get, path = "/apps/{app}/builds/{build}", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("build" = String, Path, description = "build id")),
    responses((status = 200, body = BuildView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_build(
    caller: PlatformCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, id) = path.into_inner();
    let build = state.dynos.get_build(app, id, &caller.actor).await?;
    Ok(HttpResponse::Ok().json(with_stream_url(&req, build)))
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
