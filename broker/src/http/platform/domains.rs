//! An app's domains: list (the default hostname first), add a custom hostname, show, remove.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::state::PlatformState;
use crate::platform::DomainView;

/// Body of `POST /apps/{app}/domains`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainCreateRequest {
    /// `www.example.com`: stored lowercase, one trailing dot dropped; no wildcard, port,
    /// scheme or path, not an IP address, not under the router's domain.
    pub hostname: String,
}

/// An app's domains: its default hostname `{app}.{router.domain}` first (kind `heroku`; only
/// when the broker runs a router), then its custom domains by hostname.
#[utoipa::path(get, path = "/apps/{app}/domains", tag = "platform", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<DomainView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn list_domains(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.platform.list_domains(path.into_inner(), &caller.actor).await?))
}

/// Add a custom domain; point its DNS (a CNAME) at the view's `cname`.
#[utoipa::path(post, path = "/apps/{app}/domains", tag = "platform", params(("app" = String, Path, description = "id or name")),
    request_body = DomainCreateRequest,
    responses((status = 201, body = DomainView), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 422, description = "Not a valid hostname, under the router's domain, or already in use", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_domain(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let app = path.into_inner();
    // Access first: a stranger learns nothing from how its body is judged.
    state.platform.list_domains(app.clone(), &caller.actor).await?;
    let b: DomainCreateRequest = json_body(&caller.body, false)?;
    let view = state.platform.add_domain(app, b.hostname, &caller.actor).await?;
    Ok(HttpResponse::Created().json(view))
}

/// A domain of an app, by id or hostname.
#[utoipa::path(get, path = "/apps/{app}/domains/{domain}", tag = "platform",
    params(("app" = String, Path, description = "id or name"), ("domain" = String, Path, description = "id or hostname")),
    responses((status = 200, body = DomainView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_domain(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, domain) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.platform.get_domain(app, domain, &caller.actor).await?))
}

/// Remove a custom domain (by id or hostname); the default hostname cannot be removed.
#[utoipa::path(delete, path = "/apps/{app}/domains/{domain}", tag = "platform",
    params(("app" = String, Path, description = "id or name"), ("domain" = String, Path, description = "id or hostname")),
    responses((status = 200, description = "The removed domain", body = DomainView), (status = 404, body = ApiError),
              (status = 422, description = "The default hostname", body = ApiError)),
    security(("bearer" = [])))]
pub async fn delete_domain(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, domain) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.platform.remove_domain(app, domain, &caller.actor).await?))
}
