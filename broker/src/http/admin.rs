//! The admin API (scope `admin`): providers (register, approve, disable, remove), instances and
//! operations with filters, forced deprovisioning, and the audit log. Lists page with `Range` /
//! `Next-Range` like the platform API's.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::errors::ApiError;
use super::extract::AdminCaller;
use super::input::{flag, json_body, query};
use super::paging::paginate;
use super::state::PlatformState;
use crate::error::Error;
use crate::marketplace::{provider_state, AdminFilter, AdminInstanceView, AdminOperationView, ProviderView};
use crate::platform::AuditView;

fn filter(req: &HttpRequest, allowed: &[&str]) -> Result<AdminFilter, Error> {
    let q = query(req)?;
    for key in q.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(Error::BadRequest(format!(
                "unknown filter {key}; use {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(AdminFilter {
        state: q.get("state").cloned(),
        provider: q.get("provider").cloned(),
        app: q.get("app").cloned(),
        kind: q.get("kind").cloned(),
        instance: q.get("instance").cloned(),
    })
}

/// Register a provider: a partner manifest (Heroku's `addon-manifest.json` shape), or
/// `{"kind": "osb", "id", "name", "url", "username", "password", "service_prefix"}` to
/// federate an OSB broker. It starts `pending`.
#[utoipa::path(post, path = "/admin/providers", tag = "admin", request_body = Object,
    responses((status = 201, body = ProviderView), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 409, description = "The id is taken", body = ApiError),
              (status = 422, description = "Every problem of the manifest, named by field", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_provider(caller: AdminCaller, state: web::Data<PlatformState>) -> Result<HttpResponse, ApiError> {
    let b: Value = json_body(&caller.body, false)?;
    Ok(HttpResponse::Created().json(state.marketplace.register(b, false, caller.actor.meta()).await?))
}

/// All providers (`Range: id ..`).
#[utoipa::path(get, path = "/admin/providers", tag = "admin",
    responses((status = 200, body = Vec<ProviderView>), (status = 206, body = Vec<ProviderView>), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_providers(
    _caller: AdminCaller,
    req: HttpRequest,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list = state.marketplace.providers().await?;
    Ok(paginate(&req, list, &["id"], |p, _| p.id.clone())?)
}

/// One provider.
#[utoipa::path(get, path = "/admin/providers/{id}", tag = "admin", params(("id" = String, Path, description = "provider id")),
    responses((status = 200, body = ProviderView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_provider(
    _caller: AdminCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.marketplace.provider(path.into_inner()).await?))
}

/// Approve a provider: its services appear in `/v2/catalog` and `/addon-services`.
#[utoipa::path(post, path = "/admin/providers/{id}/actions/approve", tag = "admin", params(("id" = String, Path, description = "provider id")),
    responses((status = 200, body = ProviderView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn approve_provider(
    caller: AdminCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .marketplace
        .set_state(path.into_inner(), provider_state::APPROVED, caller.actor.meta())
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Disable a provider: its services leave the catalogs; existing add-ons keep working.
#[utoipa::path(post, path = "/admin/providers/{id}/actions/disable", tag = "admin", params(("id" = String, Path, description = "provider id")),
    responses((status = 200, body = ProviderView), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn disable_provider(
    caller: AdminCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .marketplace
        .set_state(path.into_inner(), provider_state::DISABLED, caller.actor.meta())
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Remove a provider. Refused (409) while it has live instances, unless `?force=true`, which
/// disables it and deprovisions them first.
#[utoipa::path(delete, path = "/admin/providers/{id}", tag = "admin",
    params(("id" = String, Path, description = "provider id"), ("force" = Option<bool>, Query, description = "deprovision its instances first")),
    responses((status = 200, body = ProviderView), (status = 404, body = ApiError),
              (status = 409, description = "Live instances and no force", body = ApiError),
              (status = 502, description = "A forced deprovision failed; the provider stays, disabled", body = ApiError)),
    security(("bearer" = [])))]
pub async fn delete_provider(
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let force = flag(&query(&req)?, "force")?;
    let id = path.into_inner();
    let view = state.marketplace.provider(id.clone()).await?;
    state.marketplace.remove(id, force, &caller.actor).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Instances, with filters `state`, `provider`, `app` (`Range: id ..` or `created_at ..`).
#[utoipa::path(get, path = "/admin/instances", tag = "admin",
    params(("state" = Option<String>, Query, description = "provisioning, provisioned, failed, deprovisioned"),
           ("provider" = Option<String>, Query, description = "provider id (a built-in's service name)"),
           ("app" = Option<String>, Query, description = "app id or name")),
    responses((status = 200, body = Vec<AdminInstanceView>), (status = 206, body = Vec<AdminInstanceView>), (status = 400, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_instances(
    _caller: AdminCaller,
    req: HttpRequest,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let f = filter(&req, &["state", "provider", "app"])?;
    let list = state.marketplace.instances(f).await?;
    Ok(paginate(&req, list, &["id", "created_at"], |i, f| {
        if f == "id" {
            i.id.clone()
        } else {
            format!("{}/{}", i.created_at, i.id)
        }
    })?)
}

/// Deprovision an instance whatever is attached to it (forced cleanup): an add-on is detached
/// from every app first, a plain instance unbound.
#[utoipa::path(post, path = "/admin/instances/{id}/actions/deprovision", tag = "admin", params(("id" = String, Path, description = "instance id")),
    responses((status = 200, body = AdminInstanceView), (status = 404, body = ApiError),
              (status = 422, description = "An operation is in progress", body = ApiError)),
    security(("bearer" = [])))]
pub async fn deprovision_instance(
    caller: AdminCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .marketplace
            .force_deprovision(path.into_inner(), &caller.actor)
            .await?,
    ))
}

/// Operations, with filters `state`, `provider`, `app`, `kind`, `instance`
/// (`Range: created_at ..` or `id ..`).
#[utoipa::path(get, path = "/admin/operations", tag = "admin",
    params(("state" = Option<String>, Query, description = "in_progress, succeeded, failed"),
           ("provider" = Option<String>, Query, description = "provider id"),
           ("app" = Option<String>, Query, description = "app id or name"),
           ("kind" = Option<String>, Query, description = "provision, update, deprovision, bind, unbind"),
           ("instance" = Option<String>, Query, description = "instance id")),
    responses((status = 200, body = Vec<AdminOperationView>), (status = 206, body = Vec<AdminOperationView>), (status = 400, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_operations(
    _caller: AdminCaller,
    req: HttpRequest,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let f = filter(&req, &["state", "provider", "app", "kind", "instance"])?;
    let list = state.marketplace.operations(f).await?;
    Ok(paginate(&req, list, &["created_at", "id"], |o, f| {
        if f == "id" {
            o.id.clone()
        } else {
            format!("{}/{}", o.created_at, o.id)
        }
    })?)
}

/// The audit log (the latest 10,000 entries; `?target=app/<id>&actor=&request_id=&action=`); admin scope.
#[utoipa::path(get, path = "/admin/audit", tag = "platform",
    params(("target" = Option<String>, Query, description = "only entries about this target"),
           ("actor" = Option<String>, Query, description = "only entries by this originating identity or token subject"),
           ("request_id" = Option<String>, Query, description = "only entries of this request"),
           ("action" = Option<String>, Query, description = "only actions starting with this (`admin.provider`)")),
    responses((status = 200, body = Vec<AuditView>), (status = 401, body = ApiError), (status = 403, description = "Needs scope admin", body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_audit(
    _caller: AdminCaller,
    req: HttpRequest,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let query = query(&req)?;
    let mut entries = state.platform.audit_entries(query.get("target").cloned()).await?;
    if let Some(actor) = query.get("actor") {
        entries.retain(|e| e.actor.as_deref() == Some(actor.as_str()));
    }
    if let Some(rid) = query.get("request_id") {
        entries.retain(|e| e.request_id.as_deref() == Some(rid.as_str()));
    }
    if let Some(action) = query.get("action") {
        entries.retain(|e| e.action.starts_with(action.as_str()));
    }
    // `at` has millisecond precision; the id makes the key unique, so pages never skip.
    Ok(paginate(&req, entries, &["at", "id"], |e, f| {
        if f == "id" {
            e.id.clone()
        } else {
            format!("{}/{}", e.at, e.id)
        }
    })?)
}

/// Mounts the admin routes, the audit log's included.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/providers")
            .route(web::post().to(create_provider))
            .route(web::get().to(list_providers)),
    )
    .service(
        web::resource("/admin/providers/{id}")
            .route(web::get().to(get_provider))
            .route(web::delete().to(delete_provider)),
    )
    .route(
        "/admin/providers/{id}/actions/approve",
        web::post().to(approve_provider),
    )
    .route(
        "/admin/providers/{id}/actions/disable",
        web::post().to(disable_provider),
    )
    .route("/admin/instances", web::get().to(list_instances))
    .route(
        "/admin/instances/{id}/actions/deprovision",
        web::post().to(deprovision_instance),
    )
    .route("/admin/operations", web::get().to(list_operations))
    .route("/admin/audit", web::get().to(list_audit));
}
