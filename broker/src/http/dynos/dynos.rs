//! Dynos: list and show, one-off runs, restarts, stops, and a dyno's output.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::dynos::{DynoView, OutputView, RunRequest};
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::state::PlatformState;

/// An app's dynos: one per formation slot (`web.1` …) and its one-off dynos (`run.N`).
#[utoipa::path(get, path = "/apps/{app}/dynos", tag = "dynos", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<DynoView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn list_dynos(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.dynos.list(path.into_inner(), &caller.actor).await?))
}

/// One dyno, by name or id.
#[utoipa::path(get, path = "/apps/{app}/dynos/{dyno}", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (web.1) or id")),
    responses((status = 200, body = DynoView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_dyno(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, dyno) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.dynos.get(app, dyno, &caller.actor).await?))
}

/// Run a one-off dyno (`run.N`) with the current release's code and config. With
/// `attach: true` the answer waits for it to end and carries its output and exit code; with
/// `interactive: true` it comes at once with `attach_url`, the WebSocket to attach to the dyno
/// (`GET /apps/{app}/dynos/{dyno}/attach`).
#[utoipa::path(post, path = "/apps/{app}/dynos", tag = "dynos", params(("app" = String, Path, description = "id or name")),
    request_body = RunRequest,
    responses((status = 201, body = DynoView), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError), (status = 422, description = "No code yet, bad size or time_to_live", body = ApiError)),
    security(("bearer" = [])))]
pub async fn run_dyno(
    req: HttpRequest,
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: RunRequest = json_body(&caller.body, false)?;
    let mut view = state.dynos.run_one_off(path.into_inner(), b, &caller.actor).await?;
    if let Some(p) = &view.attach_url {
        // Absolute, from how the client reached us, as Heroku's `attach_url` is.
        let info = req.connection_info();
        let scheme = if info.scheme() == "https" { "wss" } else { "ws" };
        view.attach_url = Some(format!("{scheme}://{}{p}", info.host()));
    }
    Ok(HttpResponse::Created().json(view))
}

/// Restart every formation dyno of the app.
#[utoipa::path(delete, path = "/apps/{app}/dynos", tag = "dynos", params(("app" = String, Path, description = "id or name")),
    responses((status = 202, description = "Restarting"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn restart_all(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    state.dynos.restart(path.into_inner(), None, &caller.actor).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}

/// Restart one dyno.
#[utoipa::path(delete, path = "/apps/{app}/dynos/{dyno}", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (web.1) or id")),
    responses((status = 202, description = "Restarting"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn restart_dyno(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, dyno) = path.into_inner();
    state.dynos.restart(app, Some(dyno), &caller.actor).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}

/// Stop a dyno: SIGTERM, then SIGKILL after the grace period. A formation dyno is started
/// again (the formation still wants it); a one-off dyno stays down.
#[utoipa::path(post, path = "/apps/{app}/dynos/{dyno}/actions/stop", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (web.1) or id")),
    responses((status = 202, description = "Stopping"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn stop_dyno(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, dyno) = path.into_inner();
    state.dynos.stop(app, dyno, &caller.actor).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}

/// A dyno's output (stdout and stderr, the first MiB), state and exit code.
#[utoipa::path(get, path = "/apps/{app}/dynos/{dyno}/output", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (run.1) or id")),
    responses((status = 200, body = OutputView), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn dyno_output(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, dyno) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.dynos.output(app, dyno, &caller.actor).await?))
}
