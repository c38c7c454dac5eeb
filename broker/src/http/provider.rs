//! What providers call: manifest submission (a `provider`-scope token) and the partner
//! callbacks, authenticated with basic auth `id:password` plus an `X-Addon-Signature` over the
//! body (HMAC-SHA256 keyed by the manifest's password, 5-minute window, each signature once).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::platform::{body, caller, respond, ApiError, PlatformState};
use super::RequestId;
use crate::auth::Scope;
use crate::error::Error;
use crate::marketplace::ProviderView;

handler!(
    /// Submit a manifest with a provider-registration token (scope `provider`); the provider
    /// starts `pending` until an admin approves it.
    #[utoipa::path(post, path = "/provider/manifests", tag = "provider", request_body = Object,
        responses((status = 201, body = ProviderView), (status = 401, body = ApiError), (status = 403, body = ApiError),
                  (status = 409, body = ApiError), (status = 422, description = "Every problem, named by field", body = ApiError)),
        security(("bearer" = [])))]
    submit_manifest, Scope::Provider, |state, actor, _req, bytes, _p: ()| {
        let b: Value = body(&bytes, false)?;
        if b.get("kind").and_then(Value::as_str) == Some("osb") {
            return Err(Error::Forbidden("federating an OSB broker is for admins (POST /admin/providers)".into()));
        }
        Ok(HttpResponse::Created().json(state.marketplace.register(b, actor.meta()).await?))
    }
);

/// Authenticates a callback and runs `f` with the partner's manifest.
async fn callback<F, Fut>(
    req: &HttpRequest,
    bytes: &web::Bytes,
    state: &PlatformState,
    rid: &RequestId,
    f: F,
) -> HttpResponse
where
    F: FnOnce(providers::partner::Manifest) -> Fut,
    Fut: std::future::Future<Output = Result<HttpResponse, Error>>,
{
    let result = async {
        let auth = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
        let signature = req
            .headers()
            .get(providers::signing::SIGNATURE_HEADER)
            .and_then(|h| h.to_str().ok());
        let manifest = state.marketplace.authenticate(auth, signature, bytes).await?;
        f(manifest).await
    }
    .await;
    respond(result, rid)
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
    rid: RequestId,
) -> HttpResponse {
    let uuid = path.into_inner();
    let (b2, s2) = (bytes.clone(), state.clone());
    callback(&req, &b2, &s2, &rid, |manifest| async move {
        let b: Value = body(&bytes, false)?;
        let names = state.marketplace.update_config(&manifest, &uuid, &b).await?;
        Ok(HttpResponse::Ok().json(json!({ "id": uuid, "config_vars": names })))
    })
    .await
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
    rid: RequestId,
) -> HttpResponse {
    let uuid = path.into_inner();
    let (b2, s2) = (bytes.clone(), state.clone());
    callback(&req, &b2, &s2, &rid, |manifest| async move {
        let b: Value = body(&bytes, true)?;
        let s = state.marketplace.provision_done(&manifest, &uuid, &b).await?;
        Ok(HttpResponse::Ok().json(json!({ "id": uuid, "state": s })))
    })
    .await
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
    rid: RequestId,
) -> HttpResponse {
    let uuid = path.into_inner();
    let (b2, s2) = (bytes.clone(), state.clone());
    callback(&req, &b2, &s2, &rid, |manifest| async move {
        let s = state.marketplace.deprovision_done(&manifest, &uuid).await?;
        Ok(HttpResponse::Ok().json(json!({ "id": uuid, "state": s })))
    })
    .await
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
