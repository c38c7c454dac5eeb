//! `git push` and `git fetch` over git's smart HTTP protocol: every app is the remote
//! `{broker}/apps/{app}.git` (id or name). Each request is authenticated (HTTP Basic with the
//! platform token as the password, or a bearer token), checked for access like every app route,
//! and handed to `git http-backend` (`crate::git`) on the repository named by the app's id.
//! A push of `main` or `master` builds and releases that commit in the pre-receive hook.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures::StreamExt;

use crate::auth::Scope;
use crate::error::Error;
use crate::git::{CgiRequest, Git};
use crate::http::errors::ApiError;
use crate::http::extract::{basic_credentials, RequestId};
use crate::http::input::query;
use crate::http::state::PlatformState;

/// The challenge of a 401: git then asks its credential helper (or the person) and tries again.
const CHALLENGE: &str = "Basic realm=\"broker\"";

/// Registers the git routes; before every other `/apps/{app}/…` route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/apps/{app}.git/info/refs", web::get().to(get_info_refs))
        .route("/apps/{app}.git/git-upload-pack", web::post().to(upload_pack))
        .route("/apps/{app}.git/git-receive-pack", web::post().to(receive_pack))
        .route("/apps/{app}.git/{rest:.*}", web::route().to(no_git_endpoint));
}

/// The ref advertisement that starts every fetch (`service=git-upload-pack`) and push
/// (`service=git-receive-pack`). Git's smart protocol only: without `service` it is a 400.
#[utoipa::path(get, path = "/apps/{app}.git/info/refs", tag = "git",
    params(("app" = String, Path, description = "id or name"),
           ("service" = String, Query, description = "`git-upload-pack` (fetch) or `git-receive-pack` (push)")),
    responses((status = 200, description = "git's ref advertisement", content_type = "application/x-git-upload-pack-advertisement"),
              (status = 400, description = "No or another `service`", body = ApiError),
              (status = 401, description = "No or bad credentials; with `WWW-Authenticate: Basic realm=\"broker\"`", body = ApiError),
              (status = 404, body = ApiError)),
    security(("basic_auth" = []), ("bearer" = [])))]
pub async fn get_info_refs(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let service = query(&req)
        .ok()
        .and_then(|q| q.get("service").cloned())
        .filter(|s| s == "git-upload-pack" || s == "git-receive-pack");
    let actor_token = authenticate(&req, &state).await?;
    let (actor, token) = match actor_token {
        Ok(pair) => pair,
        Err(challenge) => return Ok(challenge),
    };
    // Checked after access, so that a stranger learns nothing but the 404.
    let call = service
        .map(|service| Call {
            endpoint: "info/refs",
            query: format!("service={service}"),
        })
        .ok_or_else(|| {
            Error::BadRequest(
                "git's smart HTTP protocol only: GET info/refs?service=git-upload-pack or git-receive-pack".into(),
            )
        });
    serve(&req, path.into_inner(), payload, actor, token, call).await
}

/// A fetch: git's `upload-pack` request (wants and haves) and the pack it answers.
#[utoipa::path(post, path = "/apps/{app}.git/git-upload-pack", tag = "git",
    params(("app" = String, Path, description = "id or name")),
    request_body(content = Vec<u8>, content_type = "application/x-git-upload-pack-request", description = "git's request"),
    responses((status = 200, description = "git's answer", content_type = "application/x-git-upload-pack-result"),
              (status = 401, description = "No or bad credentials; with `WWW-Authenticate: Basic realm=\"broker\"`", body = ApiError),
              (status = 404, body = ApiError), (status = 415, description = "Not git's request")),
    security(("basic_auth" = []), ("bearer" = [])))]
pub async fn upload_pack(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (actor, token) = match authenticate(&req, &state).await? {
        Ok(pair) => pair,
        Err(challenge) => return Ok(challenge),
    };
    let call = Ok(Call {
        endpoint: "git-upload-pack",
        query: String::new(),
    });
    serve(&req, path.into_inner(), payload, actor, token, call).await
}

/// A push: the ref updates and their pack. A push of `main` or `master` builds that commit
/// before the refs move (the build's output comes back as `remote:` lines); a failed build
/// rejects the push. Other branches are kept without a build.
#[utoipa::path(post, path = "/apps/{app}.git/git-receive-pack", tag = "git",
    params(("app" = String, Path, description = "id or name")),
    request_body(content = Vec<u8>, content_type = "application/x-git-receive-pack-request", description = "git's ref updates and pack (chunked for big pushes)"),
    responses((status = 200, description = "git's report (a rejected push is reported in it)", content_type = "application/x-git-receive-pack-result"),
              (status = 401, description = "No or bad credentials; with `WWW-Authenticate: Basic realm=\"broker\"`", body = ApiError),
              (status = 404, body = ApiError), (status = 415, description = "Not git's request")),
    security(("basic_auth" = []), ("bearer" = [])))]
pub async fn receive_pack(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (actor, token) = match authenticate(&req, &state).await? {
        Ok(pair) => pair,
        Err(challenge) => return Ok(challenge),
    };
    let call = Ok(Call {
        endpoint: "git-receive-pack",
        query: String::new(),
    });
    serve(&req, path.into_inner(), payload, actor, token, call).await
}

/// Anything else under an app's `.git`: git's dumb protocol and paths that try to leave the
/// repository are not served.
pub async fn no_git_endpoint(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let what = crate::catalog::clip(req.path());
    Err(Error::NotFound(format!("no such git endpoint: {what}")).into())
}

/// What http-backend is asked for.
struct Call {
    endpoint: &'static str,
    query: String,
}

/// The caller and their token; or the 401 (with its challenge) to answer.
async fn authenticate(
    req: &HttpRequest,
    state: &PlatformState,
) -> Result<Result<(crate::access::Actor, String), HttpResponse>, ApiError> {
    let Some(token) = token_of(req) else {
        return Ok(Err(challenge(Error::Unauthorized(
            "give the platform token as the password (HTTP Basic, any user name)".into(),
        ))));
    };
    let bearer = format!("Bearer {token}");
    match state
        .access
        .authenticate(Some(&bearer), Scope::Platform, RequestId::of(req).0)
        .await
    {
        Ok(actor) => {
            if actor.is_admin() {
                state
                    .access
                    .audit_admin_use(&actor, req.method().as_str(), req.path())
                    .await?;
            }
            Ok(Ok((actor, token)))
        }
        Err(e @ Error::Unauthorized(_)) => Ok(Err(challenge(e))),
        Err(e) => Err(e.into()),
    }
}

/// The token of a request: HTTP Basic's password (as git sends it), or a bearer token.
fn token_of(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = match basic_credentials(header) {
        Some((_, password)) => password,
        None => {
            let (scheme, token) = header.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            token.trim().to_string()
        }
    };
    (!token.is_empty()).then_some(token)
}

/// A 401 with `WWW-Authenticate`.
fn challenge(e: Error) -> HttpResponse {
    let mut response = ApiError::from(e).error_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
    response
}

/// Checks access to the app, then the request (`call`), then runs http-backend on its repository and streams its answer.
async fn serve(
    req: &HttpRequest,
    app: String,
    payload: web::Payload,
    actor: crate::access::Actor,
    token: String,
    call: Result<Call, Error>,
) -> Result<HttpResponse, ApiError> {
    let git = req
        .app_data::<web::Data<Git>>()
        .ok_or_else(|| Error::Internal("the git repositories are not registered".into()))?;
    let app = git.app_for(&app, &actor).await?;
    let call = call?;
    let text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request = CgiRequest {
        method: req.method().as_str().to_string(),
        path_info: format!("/{}.git/{}", app.id, call.endpoint),
        query: call.query,
        content_type: text(header::CONTENT_TYPE),
        content_length: text(header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()),
        content_encoding: text(header::CONTENT_ENCODING),
        git_protocol: text(HeaderName::from_static("git-protocol")),
        remote_user: actor.sub.clone(),
        remote_addr: req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
        api_url: loopback_url(req.app_config().local_addr()),
        token,
        app_id: app.id.clone(),
    };
    let run = git.serve(request, payload).await?;
    let status = StatusCode::from_u16(run.head.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in &run.head.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            response.append_header((n, v));
        }
    }
    Ok(response.streaming(run.body.map(|chunk| chunk.map(web::Bytes::from))))
}

/// The broker's own URL for a process on this machine: the bound address, with an unspecified
/// IP (`0.0.0.0`, `::`) replaced by loopback.
fn loopback_url(bound: SocketAddr) -> String {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, bound.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_calls_the_broker_on_loopback() {
        assert_eq!(loopback_url("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080");
        assert_eq!(loopback_url("[::]:8080".parse().unwrap()), "http://[::1]:8080");
        assert_eq!(loopback_url("127.0.0.1:9".parse().unwrap()), "http://127.0.0.1:9");
    }
}
