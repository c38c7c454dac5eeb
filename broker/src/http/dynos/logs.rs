//! An app's logs as text, buffered lines and, with `tail=true`, a live stream.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;

use crate::dynos::LogQuery;
use crate::error::Error;
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::{flag, query};
use crate::http::state::PlatformState;

/// The app's logs as text, one line each: `<timestamp> <source>[<dyno>]: <text>`, where
/// source is `app` (the dyno's stdout/stderr), `broker` (state changes) or `heroku` (the
/// router's request lines, dyno `router`). Query: `dyno` (`web.1`, a type, or `router`), `source`, `lines` (default 100, at most 1500), `tail=true` to keep
/// the response open and stream new lines.
#[utoipa::path(get, path = "/apps/{app}/logs", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("dyno" = Option<String>, Query, description = "dyno name, process type, or router"),
           ("source" = Option<String>, Query, description = "app, broker or heroku"), ("lines" = Option<usize>, Query, description = "buffered lines"),
           ("tail" = Option<bool>, Query, description = "stream new lines")),
    responses((status = 200, description = "text/plain lines", content_type = "text/plain"), (status = 403, body = ApiError),
               (status = 404, description = "Unknown app, or a dyno it does not have (the message names those it has)", body = ApiError)),
    security(("bearer" = [])))]
pub async fn app_logs(
    caller: PlatformCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let q = query(&req)?;
    let lines = q
        .get("lines")
        .map(|n| {
            n.parse::<usize>()
                .map_err(|_| Error::BadRequest("lines must be a number".into()))
        })
        .transpose()?;
    let tail = flag(&q, "tail")?;
    if let Some(s) = q.get("source") {
        if !matches!(s.as_str(), "app" | "broker" | "heroku") {
            return Err(Error::BadRequest("source must be app, broker or heroku".into()).into());
        }
    }
    let query = LogQuery {
        dyno: q.get("dyno").cloned(),
        source: q.get("source").cloned(),
        lines,
    };
    let (app, buffered, rx) = state.dynos.logs(path.into_inner(), &query, tail, &caller.actor).await?;
    let head = futures::stream::iter(
        buffered
            .into_iter()
            .map(|l| Ok::<_, actix_web::Error>(web::Bytes::from(l))),
    );
    let Some(rx) = rx else {
        return Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .streaming(head));
    };
    // Live lines for this app that match, until the client goes away; a keep-alive
    // newline every 15 s lets proxies and clients notice a dead connection.
    let live = futures::stream::unfold((rx, query, app.id), |(mut rx, query, app_id)| async move {
        loop {
            match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
                Err(_) => return Some((Ok(web::Bytes::from_static(b"\n")), (rx, query, app_id))),
                Ok(Ok(line)) if *line.app_id == *app_id && query.matches(&line) => {
                    return Some((Ok(web::Bytes::from(line.render())), (rx, query, app_id)))
                }
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .streaming(head.chain(live)))
}
