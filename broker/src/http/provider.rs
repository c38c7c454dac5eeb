//! What providers call: manifest submission (a `provider`-scope token) and the partner
//! callbacks, authenticated with basic auth `id:password` plus an `X-Addon-Signature` over the
//! body (HMAC-SHA256 keyed by the manifest's password, 5-minute window, each signature once).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::errors::ApiError;
use super::extract::{basic_credentials, ProviderCaller};
use super::input::json_body;
use super::state::PlatformState;
use crate::marketplace::{CallbackAction, ProviderView};

/// Submit a manifest with a provider-registration token (scope `provider`); the provider
/// starts `pending` until an admin approves it.
#[utoipa::path(post, path = "/provider/manifests", tag = "provider", request_body = Object,
    responses((status = 201, body = ProviderView), (status = 401, body = ApiError), (status = 403, body = ApiError),
              (status = 409, body = ApiError), (status = 422, description = "Every problem, named by field", body = ApiError)),
    security(("bearer" = [])))]
pub async fn submit_manifest(
    caller: ProviderCaller,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: Value = json_body(&caller.body, false)?;
    Ok(HttpResponse::Created().json(state.marketplace.register(b, true, caller.actor.meta()).await?))
}

/// Hands a callback to the domain, which authenticates it (basic auth and signature, before
/// reading anything), and renders its answer.
async fn callback(
    req: HttpRequest,
    bytes: web::Bytes,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
    action: CallbackAction,
) -> Result<HttpResponse, ApiError> {
    let header = |name: &str| req.headers().get(name).and_then(|h| h.to_str().ok());
    let answer = state
        .marketplace
        .callback(
            header(header::AUTHORIZATION.as_str()).and_then(basic_credentials),
            header(providers::signing::SIGNATURE_HEADER),
            &bytes,
            &path.into_inner(),
            action,
        )
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Set an add-on's config vars (`{"config": [{"name", "value"}]}` or `{"config": {NAME: value}}`;
/// null removes): a release on every app it is attached to.
#[utoipa::path(patch, path = "/provider/addons/{uuid}/config", tag = "provider",
    params(("uuid" = String, Path, description = "the add-on's uuid"),
           ("X-Addon-Signature" = String, Header, description = "t=<unix>,v1=<hex HMAC-SHA256(password, \"<t>.<body>\")>")),
    request_body = Object,
    responses((status = 200, description = "The add-on's config var names", body = Object), (status = 401, body = ApiError),
              (status = 403, description = "Another provider's add-on", body = ApiError), (status = 404, body = ApiError),
              (status = 422, description = "A var without the prefix", body = ApiError)),
    security(("basic_auth" = [])))]
pub async fn update_addon_config(
    req: HttpRequest,
    bytes: web::Bytes,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    callback(req, bytes, path, state, CallbackAction::Config).await
}

/// Mark an asynchronous provision done (its config set before, or in this body).
#[utoipa::path(post, path = "/provider/addons/{uuid}/actions/provision", tag = "provider",
    params(("uuid" = String, Path, description = "the add-on's uuid"),
           ("X-Addon-Signature" = String, Header, description = "t=<unix>,v1=<hex HMAC-SHA256(password, \"<t>.<body>\")>")),
    responses((status = 200, body = Object), (status = 401, body = ApiError), (status = 403, body = ApiError),
              (status = 409, description = "Nothing waits (or the deadline passed)", body = ApiError),
              (status = 422, description = "No config yet", body = ApiError)),
    security(("basic_auth" = [])))]
pub async fn addon_provisioned(
    req: HttpRequest,
    bytes: web::Bytes,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    callback(req, bytes, path, state, CallbackAction::Provisioned).await
}

/// Mark an asynchronous deprovision done.
#[utoipa::path(post, path = "/provider/addons/{uuid}/actions/deprovision", tag = "provider",
    params(("uuid" = String, Path, description = "the add-on's uuid"),
           ("X-Addon-Signature" = String, Header, description = "t=<unix>,v1=<hex HMAC-SHA256(password, \"<t>.<body>\")>")),
    responses((status = 200, body = Object), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError)),
    security(("basic_auth" = [])))]
pub async fn addon_deprovisioned(
    req: HttpRequest,
    bytes: web::Bytes,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    callback(req, bytes, path, state, CallbackAction::Deprovisioned).await
}

/// Mounts the provider routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/provider/manifests", web::post().to(submit_manifest))
        .route("/provider/addons/{uuid}/config", web::patch().to(update_addon_config))
        .route(
            "/provider/addons/{uuid}/actions/provision",
            web::post().to(addon_provisioned),
        )
        .route(
            "/provider/addons/{uuid}/actions/deprovision",
            web::post().to(addon_deprovisioned),
        );
}
