//! The dyno runtime's face of the platform API (Heroku's shapes): builds and slugs, the
//! formation, dynos (restart, stop, one-off runs, output) and logs.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;
use serde::Deserialize;
use utoipa::ToSchema;

use super::platform::{body, caller, respond, ApiError, PlatformState};
use super::RequestId;
use crate::auth::Scope;
use crate::dynos::{BuildView, DynoView, FormationUpdate, FormationView, LogQuery, OutputView, RunRequest, SlugView};
use crate::error::Error;

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

handler!(
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
    create_build, Scope::Platform, |state, actor, req, bytes, path: String| {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if json {
            return Err(Error::BadRequest(
                "send the .tar.gz itself as the body (Content-Type: application/gzip); source_blob URLs are not fetched".into(),
            ));
        }
        let build = state.dynos.build(path.into_inner(), bytes.to_vec(), &actor).await?;
        Ok(HttpResponse::Created().json(build))
    }
);

handler!(
    /// An app's builds, oldest first.
    #[utoipa::path(get, path = "/apps/{app}/builds", tag = "dynos", params(("app" = String, Path, description = "id or name")),
        responses((status = 200, body = Vec<BuildView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
    list_builds, Scope::Platform, |state, actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.dynos.builds(path.into_inner(), &actor).await?))
    }
);

handler!(
    /// One build.
    #[utoipa::path(get, path = "/apps/{app}/builds/{build}", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("build" = String, Path, description = "build id")),
        responses((status = 200, body = BuildView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_build, Scope::Platform, |state, actor, _req, _b, path: (String, String)| {
        let (app, id) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.dynos.get_build(app, id, &actor).await?))
    }
);

handler!(
    /// One slug: its process types, size and checksum.
    #[utoipa::path(get, path = "/apps/{app}/slugs/{slug}", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("slug" = String, Path, description = "slug id")),
        responses((status = 200, body = SlugView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_slug, Scope::Platform, |state, _actor, _req, _b, path: (String, String)| {
        let (app, id) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.dynos.slug(app, id).await?))
    }
);

handler!(
    /// An app's formation: quantity and size per process type.
    #[utoipa::path(get, path = "/apps/{app}/formation", tag = "dynos", params(("app" = String, Path, description = "id or name")),
        responses((status = 200, body = Vec<FormationView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
    list_formation, Scope::Platform, |state, _actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.dynos.formation(path.into_inner()).await?))
    }
);

handler!(
    /// One process type's formation.
    #[utoipa::path(get, path = "/apps/{app}/formation/{type}", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("type" = String, Path, description = "process type")),
        responses((status = 200, body = FormationView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_formation, Scope::Platform, |state, _actor, _req, _b, path: (String, String)| {
        let (app, t) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.dynos.formation_of(app, t).await?))
    }
);

handler!(
    /// Scale and resize several process types at once (all or none).
    #[utoipa::path(patch, path = "/apps/{app}/formation", tag = "dynos", params(("app" = String, Path, description = "id or name")),
        request_body = FormationBatchRequest,
        responses((status = 200, body = Vec<FormationView>), (status = 400, body = ApiError), (status = 403, body = ApiError),
                  (status = 404, description = "Unknown app or process type", body = ApiError),
                  (status = 422, description = "Quantity out of range or unknown size", body = ApiError)),
        security(("bearer" = [])))]
    update_formation, Scope::Platform, |state, actor, _req, bytes, path: String| {
        let b: FormationBatchRequest = body(&bytes, false)?;
        Ok(HttpResponse::Ok().json(state.dynos.update_formation(path.into_inner(), b.updates, &actor).await?))
    }
);

handler!(
    /// Scale or resize one process type.
    #[utoipa::path(patch, path = "/apps/{app}/formation/{type}", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("type" = String, Path, description = "process type")),
        request_body = FormationTypeRequest,
        responses((status = 200, body = FormationView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)),
        security(("bearer" = [])))]
    update_formation_type, Scope::Platform, |state, actor, _req, bytes, path: (String, String)| {
        let (app, t) = path.into_inner();
        let b: FormationTypeRequest = body(&bytes, false)?;
        let update = FormationUpdate { process_type: Some(t), quantity: b.quantity, size: b.size };
        let mut changed = state.dynos.update_formation(app, vec![update], &actor).await?;
        changed.pop().map(|f| HttpResponse::Ok().json(f)).ok_or_else(|| Error::Internal("no formation changed".into()))
    }
);

handler!(
    /// An app's dynos: one per formation slot (`web.1` …) and its one-off dynos (`run.N`).
    #[utoipa::path(get, path = "/apps/{app}/dynos", tag = "dynos", params(("app" = String, Path, description = "id or name")),
        responses((status = 200, body = Vec<DynoView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
    list_dynos, Scope::Platform, |state, _actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.dynos.list(path.into_inner()).await?))
    }
);

handler!(
    /// One dyno, by name or id.
    #[utoipa::path(get, path = "/apps/{app}/dynos/{dyno}", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (web.1) or id")),
        responses((status = 200, body = DynoView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_dyno, Scope::Platform, |state, _actor, _req, _b, path: (String, String)| {
        let (app, dyno) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.dynos.get(app, dyno).await?))
    }
);

handler!(
    /// Run a one-off dyno (`run.N`) with the current release's code and config. With
    /// `attach: true` the answer waits for it to end and carries its output and exit code.
    #[utoipa::path(post, path = "/apps/{app}/dynos", tag = "dynos", params(("app" = String, Path, description = "id or name")),
        request_body = RunRequest,
        responses((status = 201, body = DynoView), (status = 400, body = ApiError), (status = 403, body = ApiError),
                  (status = 404, body = ApiError), (status = 422, description = "No code yet, bad size or time_to_live", body = ApiError)),
        security(("bearer" = [])))]
    run_dyno, Scope::Platform, |state, actor, _req, bytes, path: String| {
        let b: RunRequest = body(&bytes, false)?;
        Ok(HttpResponse::Created().json(state.dynos.run_one_off(path.into_inner(), b, &actor).await?))
    }
);

handler!(
    /// Restart every formation dyno of the app.
    #[utoipa::path(delete, path = "/apps/{app}/dynos", tag = "dynos", params(("app" = String, Path, description = "id or name")),
        responses((status = 202, description = "Restarting"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    restart_all, Scope::Platform, |state, actor, _req, _b, path: String| {
        state.dynos.restart(path.into_inner(), None, &actor).await?;
        Ok(HttpResponse::Accepted().json(serde_json::json!({})))
    }
);

handler!(
    /// Restart one dyno.
    #[utoipa::path(delete, path = "/apps/{app}/dynos/{dyno}", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (web.1) or id")),
        responses((status = 202, description = "Restarting"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    restart_dyno, Scope::Platform, |state, actor, _req, _b, path: (String, String)| {
        let (app, dyno) = path.into_inner();
        state.dynos.restart(app, Some(dyno), &actor).await?;
        Ok(HttpResponse::Accepted().json(serde_json::json!({})))
    }
);

handler!(
    /// Stop a dyno: SIGTERM, then SIGKILL after the grace period. A formation dyno is started
    /// again (the formation still wants it); a one-off dyno stays down.
    #[utoipa::path(post, path = "/apps/{app}/dynos/{dyno}/actions/stop", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (web.1) or id")),
        responses((status = 202, description = "Stopping"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    stop_dyno, Scope::Platform, |state, actor, _req, _b, path: (String, String)| {
        let (app, dyno) = path.into_inner();
        state.dynos.stop(app, dyno, &actor).await?;
        Ok(HttpResponse::Accepted().json(serde_json::json!({})))
    }
);

handler!(
    /// A dyno's output (stdout and stderr, the first MiB), state and exit code.
    #[utoipa::path(get, path = "/apps/{app}/dynos/{dyno}/output", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (run.1) or id")),
        responses((status = 200, body = OutputView), (status = 403, body = ApiError), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    dyno_output, Scope::Platform, |state, actor, _req, _b, path: (String, String)| {
        let (app, dyno) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.dynos.output(app, dyno, &actor).await?))
    }
);

handler!(
    /// The app's logs as text, one line each: `<timestamp> <source>[<dyno>]: <text>`, where
    /// source is `app` (the dyno's stdout/stderr) or `broker` (state changes). Query: `dyno`
    /// (`web.1` or a type), `source`, `lines` (default 100, at most 1500), `tail=true` to keep
    /// the response open and stream new lines.
    #[utoipa::path(get, path = "/apps/{app}/logs", tag = "dynos",
        params(("app" = String, Path, description = "id or name"), ("dyno" = Option<String>, Query, description = "dyno name or process type"),
               ("source" = Option<String>, Query, description = "app or broker"), ("lines" = Option<usize>, Query, description = "buffered lines"),
               ("tail" = Option<bool>, Query, description = "stream new lines")),
        responses((status = 200, description = "text/plain lines", content_type = "text/plain"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    app_logs, Scope::Platform, |state, actor, req, _b, path: String| {
        let q = web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
            .map_err(|e| Error::BadRequest(format!("malformed query string: {e}")))?;
        let lines = q
            .get("lines")
            .map(|n| n.parse::<usize>().map_err(|_| Error::BadRequest("lines must be a number".into())))
            .transpose()?;
        let tail = match q.get("tail").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(Error::BadRequest(format!("tail must be true or false, not {}", crate::catalog::clip(other)))),
        };
        if let Some(s) = q.get("source") {
            if s != "app" && s != "broker" {
                return Err(Error::BadRequest("source must be app or broker".into()));
            }
        }
        let query = LogQuery { dyno: q.get("dyno").cloned(), source: q.get("source").cloned(), lines };
        let (app, buffered, rx) = state.dynos.logs(path.into_inner(), &query, tail, &actor).await?;
        let head = futures::stream::iter(buffered.into_iter().map(|l| Ok::<_, actix_web::Error>(web::Bytes::from(l))));
        let Some(rx) = rx else {
            return Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").streaming(head));
        };
        // Live lines for this app that match, until the client goes away; a keep-alive
        // newline every 15 s lets proxies and clients notice a dead connection.
        let live = futures::stream::unfold((rx, query, app.id), |(mut rx, query, app_id)| async move {
            loop {
                match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
                    Err(_) => return Some((Ok(web::Bytes::from_static(b"\n")), (rx, query, app_id))),
                    Ok(Ok(line)) if line.app_id == app_id && query.matches(&line) => {
                        return Some((Ok(web::Bytes::from(line.render())), (rx, query, app_id)))
                    }
                    Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
                }
            }
        });
        Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").streaming(head.chain(live)))
    }
);

/// Registers the dyno routes; build uploads may be up to `max_archive` bytes.
pub fn routes(cfg: &mut web::ServiceConfig, max_archive: usize) {
    cfg.service(
        web::resource("/apps/{app}/builds")
            .app_data(web::PayloadConfig::new(max_archive))
            .route(web::post().to(create_build))
            .route(web::get().to(list_builds)),
    )
    .route("/apps/{app}/builds/{build}", web::get().to(get_build))
    .route("/apps/{app}/slugs/{slug}", web::get().to(get_slug))
    .service(
        web::resource("/apps/{app}/formation")
            .route(web::get().to(list_formation))
            .route(web::patch().to(update_formation)),
    )
    .service(
        web::resource("/apps/{app}/formation/{type}")
            .route(web::get().to(get_formation))
            .route(web::patch().to(update_formation_type)),
    )
    .service(
        web::resource("/apps/{app}/dynos")
            .route(web::get().to(list_dynos))
            .route(web::post().to(run_dyno))
            .route(web::delete().to(restart_all)),
    )
    .service(
        web::resource("/apps/{app}/dynos/{dyno}")
            .route(web::get().to(get_dyno))
            .route(web::delete().to(restart_dyno)),
    )
    .route("/apps/{app}/dynos/{dyno}/actions/stop", web::post().to(stop_dyno))
    .route("/apps/{app}/dynos/{dyno}/output", web::get().to(dyno_output))
    .route("/apps/{app}/logs", web::get().to(app_logs));
}
