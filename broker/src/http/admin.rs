//! The admin API (scope `admin`): providers (register, approve, disable, remove), instances and
//! operations with filters, forced deprovisioning. Lists page with `Range` / `Next-Range` like
//! the platform API's.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::platform::{body, caller, paginate, respond, ApiError, PlatformState};
use super::RequestId;
use crate::auth::Scope;
use crate::error::Error;
use crate::marketplace::{provider_state, AdminFilter, AdminInstanceView, AdminOperationView, ProviderView};

fn query(req: &HttpRequest) -> Result<BTreeMap<String, String>, Error> {
    web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| Error::BadRequest(format!("malformed query string: {e}")))
}

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

handler!(
    /// Register a provider: a partner manifest (Heroku's `addon-manifest.json` shape), or
    /// `{"kind": "osb", "id", "name", "url", "username", "password", "service_prefix"}` to
    /// federate an OSB broker. It starts `pending`.
    #[utoipa::path(post, path = "/admin/providers", tag = "admin", request_body = Object,
        responses((status = 201, body = ProviderView), (status = 400, body = ApiError), (status = 403, body = ApiError),
                  (status = 409, description = "The id is taken", body = ApiError),
                  (status = 422, description = "Every problem of the manifest, named by field", body = ApiError)),
        security(("bearer" = [])))]
    create_provider, Scope::Admin, |state, actor, _req, bytes, _p: ()| {
        let b: Value = body(&bytes, false)?;
        Ok(HttpResponse::Created().json(state.marketplace.register(b, false, actor.meta()).await?))
    }
);

handler!(
    /// All providers (`Range: id ..`).
    #[utoipa::path(get, path = "/admin/providers", tag = "admin",
        responses((status = 200, body = Vec<ProviderView>), (status = 206, body = Vec<ProviderView>), (status = 403, body = ApiError)),
        security(("bearer" = [])))]
    list_providers, Scope::Admin, |state, _actor, req, _b, _p: ()| {
        let list = state.marketplace.providers().await?;
        paginate(&req, list, &["id"], |p, _| p.id.clone())
    }
);

handler!(
    /// One provider.
    #[utoipa::path(get, path = "/admin/providers/{id}", tag = "admin", params(("id" = String, Path, description = "provider id")),
        responses((status = 200, body = ProviderView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_provider, Scope::Admin, |state, _actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.marketplace.provider(path.into_inner()).await?))
    }
);

handler!(
    /// Approve a provider: its services appear in `/v2/catalog` and `/addon-services`.
    #[utoipa::path(post, path = "/admin/providers/{id}/actions/approve", tag = "admin", params(("id" = String, Path, description = "provider id")),
        responses((status = 200, body = ProviderView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    approve_provider, Scope::Admin, |state, actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.marketplace.set_state(path.into_inner(), provider_state::APPROVED, actor.meta()).await?))
    }
);

handler!(
    /// Disable a provider: its services leave the catalogs; existing add-ons keep working.
    #[utoipa::path(post, path = "/admin/providers/{id}/actions/disable", tag = "admin", params(("id" = String, Path, description = "provider id")),
        responses((status = 200, body = ProviderView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    disable_provider, Scope::Admin, |state, actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.marketplace.set_state(path.into_inner(), provider_state::DISABLED, actor.meta()).await?))
    }
);

handler!(
    /// Remove a provider. Refused (409) while it has live instances, unless `?force=true`, which
    /// disables it and deprovisions them first.
    #[utoipa::path(delete, path = "/admin/providers/{id}", tag = "admin",
        params(("id" = String, Path, description = "provider id"), ("force" = Option<bool>, Query, description = "deprovision its instances first")),
        responses((status = 200, body = ProviderView), (status = 404, body = ApiError),
                  (status = 409, description = "Live instances and no force", body = ApiError),
                  (status = 502, description = "A forced deprovision failed; the provider stays, disabled", body = ApiError)),
        security(("bearer" = [])))]
    delete_provider, Scope::Admin, |state, actor, req, _b, path: String| {
        let q = query(&req)?;
        let force = match q.get("force").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(Error::BadRequest(format!("force must be true or false, not {}", crate::catalog::clip(other)))),
        };
        let id = path.into_inner();
        let view = state.marketplace.provider(id.clone()).await?;
        state.marketplace.remove(id, force, &actor).await?;
        Ok(HttpResponse::Ok().json(view))
    }
);

handler!(
    /// Instances, with filters `state`, `provider`, `app` (`Range: id ..` or `created_at ..`).
    #[utoipa::path(get, path = "/admin/instances", tag = "admin",
        params(("state" = Option<String>, Query, description = "provisioning, provisioned, failed, deprovisioned"),
               ("provider" = Option<String>, Query, description = "provider id (a built-in's service name)"),
               ("app" = Option<String>, Query, description = "app id or name")),
        responses((status = 200, body = Vec<AdminInstanceView>), (status = 206, body = Vec<AdminInstanceView>), (status = 400, body = ApiError)),
        security(("bearer" = [])))]
    list_instances, Scope::Admin, |state, _actor, req, _b, _p: ()| {
        let f = filter(&req, &["state", "provider", "app"])?;
        let list = state.marketplace.instances(f).await?;
        paginate(&req, list, &["id", "created_at"], |i, f| if f == "id" { i.id.clone() } else { format!("{}/{}", i.created_at, i.id) })
    }
);

handler!(
    /// Deprovision an instance whatever is attached to it (forced cleanup): an add-on is detached
    /// from every app first, a plain instance unbound.
    #[utoipa::path(post, path = "/admin/instances/{id}/actions/deprovision", tag = "admin", params(("id" = String, Path, description = "instance id")),
        responses((status = 200, body = AdminInstanceView), (status = 404, body = ApiError),
                  (status = 422, description = "An operation is in progress", body = ApiError)),
        security(("bearer" = [])))]
    deprovision_instance, Scope::Admin, |state, actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.marketplace.force_deprovision(path.into_inner(), &actor).await?))
    }
);

handler!(
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
    list_operations, Scope::Admin, |state, _actor, req, _b, _p: ()| {
        let f = filter(&req, &["state", "provider", "app", "kind", "instance"])?;
        let list = state.marketplace.operations(f).await?;
        paginate(&req, list, &["created_at", "id"], |o, f| if f == "id" { o.id.clone() } else { format!("{}/{}", o.created_at, o.id) })
    }
);

/// Mounts the admin routes (the audit log is mounted with the platform's).
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
    .route("/admin/operations", web::get().to(list_operations));
}
