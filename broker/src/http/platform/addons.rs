//! Add-ons: create (provision, bind, attach, release), list, show, change plan, destroy, and
//! single sign-on into a third-party add-on's dashboard.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::paging::paginate;
use crate::http::state::PlatformState;
use crate::platform::{AddonCreated, AddonView, NewAddon};

/// `attachment` of an add-on creation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSpec {
    /// Config var prefix (`^[A-Z][A-Z0-9_]{0,29}$`).
    pub name: Option<String>,
}

/// Body of `POST /apps/{app}/addons`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonCreateRequest {
    /// `service:plan`, e.g. `postgresql:shared`, or a bare service name (`postgresql`) for the
    /// service's default plan.
    pub plan: String,
    /// Attachment options.
    pub attachment: Option<AttachmentSpec>,
    /// Plan parameters.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Add-on name; generated when absent.
    pub name: Option<String>,
}

/// Body of `PATCH /apps/{app}/addons/{addon}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonUpdateRequest {
    /// New `service:plan`.
    pub plan: String,
}

/// The list order of add-ons: by name, or by id.
fn addon_key(a: &AddonView, field: &str) -> String {
    if field == "id" {
        a.id.clone()
    } else {
        a.name.clone()
    }
}

/// Create an add-on: provision, bind, attach, release the config vars (202 while provisioning goes on).
#[utoipa::path(post, path = "/apps/{app}/addons", tag = "platform", params(("app" = String, Path, description = "id or name")),
    request_body = AddonCreateRequest,
    responses((status = 201, body = AddonView), (status = 202, description = "Provisioning; vars arrive in a later release", body = AddonView),
              (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError),
              (status = 422, description = "Unknown service or plan (the message lists the valid ones)", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_addon(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: AddonCreateRequest = json_body(&caller.body, false)?;
    let req = NewAddon {
        plan: b.plan,
        attachment_name: b.attachment.and_then(|a| a.name),
        config: match b.config {
            None | Some(Value::Null) => json!({}),
            Some(v) => v,
        },
        name: b.name,
    };
    Ok(
        match state
            .platform
            .create_addon(path.into_inner(), req, &caller.actor)
            .await?
        {
            AddonCreated::Provisioned(view) => HttpResponse::Created().json(view),
            AddonCreated::Provisioning(view) => HttpResponse::Accepted().json(view),
        },
    )
}

/// An app's add-ons (owned or attached).
#[utoipa::path(get, path = "/apps/{app}/addons", tag = "platform", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<AddonView>), (status = 206, body = Vec<AddonView>), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_app_addons(
    caller: PlatformCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .platform
        .list_addons(Some(path.into_inner()), &caller.actor)
        .await?;
    Ok(paginate(&req, list, &["name", "id"], addon_key)?)
}

/// All add-ons.
#[utoipa::path(get, path = "/addons", tag = "platform",
    responses((status = 200, body = Vec<AddonView>), (status = 206, body = Vec<AddonView>)), security(("bearer" = [])))]
pub async fn list_addons(
    caller: PlatformCaller,
    req: HttpRequest,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list = state.platform.list_addons(None, &caller.actor).await?;
    Ok(paginate(&req, list, &["name", "id"], addon_key)?)
}

/// An add-on of an app.
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}", tag = "platform",
    params(("app" = String, Path, description = "id or name"), ("addon" = String, Path, description = "name, id, attachment name on the app (`REDIS`) or unambiguous service name (`redis`)")),
    responses((status = 200, body = AddonView), (status = 404, body = ApiError),
              (status = 422, description = "The name is ambiguous (several add-ons of that service)", body = ApiError)),
    security(("bearer" = [])))]
pub async fn get_addon(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, addon) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        state
            .platform
            .get_addon(app.into(), addon.into(), &caller.actor)
            .await?,
    ))
}

/// Change an add-on's plan.
#[utoipa::path(patch, path = "/apps/{app}/addons/{addon}", tag = "platform",
    params(("app" = String, Path, description = "id or name"), ("addon" = String, Path, description = "name, id, attachment name on the app (`REDIS`) or unambiguous service name (`redis`)")),
    request_body = AddonUpdateRequest,
    responses((status = 200, body = AddonView), (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub async fn update_addon(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let b: AddonUpdateRequest = json_body(&caller.body, false)?;
    let (app, addon) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        state
            .platform
            .change_plan(app.into(), addon.into(), b.plan, &caller.actor)
            .await?,
    ))
}

/// Destroy an add-on: detach everywhere (one release per app), unbind, deprovision.
#[utoipa::path(delete, path = "/apps/{app}/addons/{addon}", tag = "platform",
    params(("app" = String, Path, description = "id or name"), ("addon" = String, Path, description = "name, id, attachment name on the app (`REDIS`) or unambiguous service name (`redis`)")),
    responses((status = 200, body = AddonView), (status = 404, body = ApiError),
              (status = 422, description = "The name is ambiguous (several add-ons of that service)", body = ApiError)),
    security(("bearer" = [])))]
pub async fn delete_addon(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, addon) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        state
            .platform
            .delete_addon(app.into(), addon.into(), &caller.actor)
            .await?,
    ))
}

/// Single sign-on into a third-party add-on's dashboard: POST `params` to `action` (or open
/// `url`) within 5 minutes. Owner or admin.
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}/sso", tag = "platform",
    params(("app" = String, Path, description = "id or name"), ("addon" = String, Path, description = "name, id, attachment name on the app (`REDIS`) or unambiguous service name (`redis`)")),
    responses((status = 200, body = crate::marketplace::SsoView), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 422, description = "Not a third-party add-on, or an ambiguous name", body = ApiError)),
    security(("bearer" = [])))]
pub async fn addon_sso(
    caller: PlatformCaller,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let (app, addon) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.marketplace.sso(app.into(), addon.into(), &caller.actor).await?))
}
