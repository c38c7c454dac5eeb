//! The platform API (Heroku's shapes): apps, config vars, releases, add-ons, attachments and the
//! add-on catalog for people. Bearer tokens (`platform` or `admin` scope); errors are
//! `{"id": "...", "message": "..."}`; lists page with `Range` / `Next-Range`.

use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::RequestId;
use crate::auth::{authorize, Scope, TokenKeys};
use crate::catalog::clip;
use crate::error::log_if_internal;
use crate::error::Error;
use crate::platform::{Actor, AddonView, AppView, AttachmentView, AuditView, NewAddon, Platform, ReleaseView};

/// Default page size of list endpoints.
pub const DEFAULT_PAGE: usize = 200;
/// Largest page size.
pub const MAX_PAGE: usize = 1000;

/// What the platform handlers share.
pub struct PlatformState {
    /// The platform domain.
    pub platform: Platform,
    /// Token keys.
    pub keys: TokenKeys,
    /// The dyno manager.
    pub dynos: crate::dynos::Dynos,
    /// Third-party providers.
    pub marketplace: crate::marketplace::Marketplace,
}

/// Platform and admin API error body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// Machine-readable id (`not_found`, `conflict` …).
    pub id: String,
    /// What went wrong.
    pub message: String,
}

/// Renders an error as `{id, message}`.
pub fn api_error(err: Error, request_id: &str) -> HttpResponse {
    log_if_internal(&err, request_id);
    HttpResponse::build(err.status()).json(ApiError {
        id: err.id().into(),
        message: err.public_message(),
    })
}

pub(super) fn caller(req: &HttpRequest, state: &PlatformState, rid: &RequestId, needed: Scope) -> Result<Actor, Error> {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let claims = authorize(header, &state.keys, needed)?;
    Ok(Actor::new(claims, rid.0.clone()))
}

pub(super) fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], allow_empty: bool) -> Result<T, Error> {
    let bytes: &[u8] = if allow_empty && bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(clip(&format!("request body is not valid: {e}"))))
}

pub(super) fn respond(result: Result<HttpResponse, Error>, rid: &RequestId) -> HttpResponse {
    result.unwrap_or_else(|e| api_error(e, &rid.0))
}

/// A parsed `Range` header: `<field> [[]start]..[; max=N]`.
struct Range {
    field: String,
    start: Option<String>,
    exclusive: bool,
    max: usize,
}

fn parse_range(req: &HttpRequest, fields: &[&str]) -> Result<Range, Error> {
    let default = Range {
        field: fields[0].to_string(),
        start: None,
        exclusive: false,
        max: DEFAULT_PAGE,
    };
    let Some(raw) = req.headers().get("range") else {
        return Ok(default);
    };
    let raw = raw
        .to_str()
        .map_err(|_| Error::BadRequest("Range header is not ASCII".into()))?;
    let bad = || {
        Error::BadRequest(format!(
            "Range must look like \"{} ..; max=200\"; got {}",
            fields[0],
            clip(raw)
        ))
    };
    let (spec, options) = raw.split_once(';').map_or((raw, ""), |(a, b)| (a, b));
    let (field, bounds) = spec.trim().split_once(' ').unwrap_or((spec.trim(), ".."));
    if !fields.contains(&field) {
        return Err(Error::BadRequest(format!(
            "Range can sort by {} only",
            fields.join(", ")
        )));
    }
    let (start, _) = bounds.trim().split_once("..").ok_or_else(bad)?;
    let (exclusive, start) = match start.strip_prefix(']') {
        Some(s) => (true, s),
        None => (false, start),
    };
    let mut max = DEFAULT_PAGE;
    for option in options.split([';', ',']) {
        if let Some(v) = option.trim().strip_prefix("max=") {
            max = v.parse::<usize>().map_err(|_| bad())?.clamp(1, MAX_PAGE);
        }
    }
    Ok(Range {
        field: field.to_string(),
        start: (!start.is_empty()).then(|| start.to_string()),
        exclusive,
        max,
    })
}

/// Answers a list: 200 with everything, or 206 with a page and `Next-Range`.
pub(super) fn paginate<T: Serialize>(
    req: &HttpRequest,
    mut items: Vec<T>,
    fields: &[&str],
    key: impl Fn(&T, &str) -> String,
) -> Result<HttpResponse, Error> {
    let mut range = parse_range(req, fields)?;
    if range.field == "version" {
        // Version keys are zero-padded so that string order is numeric order; pad the start too.
        if let Some(start) = &range.start {
            let n: i64 = start
                .parse()
                .map_err(|_| Error::BadRequest("a version range starts at a number".into()))?;
            range.start = Some(numeric_key(n));
        }
    }
    items.sort_by_key(|item| key(item, &range.field));
    let items: Vec<T> = items
        .into_iter()
        .filter(|item| match &range.start {
            None => true,
            Some(s) if range.exclusive => key(item, &range.field) > *s,
            Some(s) => key(item, &range.field) >= *s,
        })
        .collect();
    let more = items.len() > range.max;
    let page: Vec<T> = items.into_iter().take(range.max).collect();
    let mut res = HttpResponse::build(if more {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    });
    res.insert_header(("accept-ranges", fields.join(", ")));
    if more {
        if let Some(last) = page.last() {
            let next = format!("{} ]{}..; max={}", range.field, key(last, &range.field), range.max);
            if let Ok(v) = HeaderValue::from_str(&next) {
                res.insert_header(("next-range", v));
            }
        }
    }
    Ok(res.json(page))
}

/// Sort key of a numeric field, so that string order is numeric order.
pub(super) fn numeric_key(n: i64) -> String {
    format!("{n:020}")
}

/// Body of `POST /apps`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppCreateRequest {
    /// `^[a-z][a-z0-9-]{2,29}$`; generated when absent.
    pub name: Option<String>,
}

/// Body of `PATCH /apps/{app}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppUpdateRequest {
    /// New name.
    pub name: String,
}

/// Body of `DELETE /apps/{app}` (or `?confirm=`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppDeleteRequest {
    /// The app's name, required when it has add-ons.
    pub confirm: Option<String>,
}

/// Body of `POST /apps/{app}/releases`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Release id or version to roll config vars back to.
    #[schema(value_type = String)]
    pub release: Value,
}

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
    /// `service:plan`, e.g. `postgresql:shared`.
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

/// Body of `POST /addon-attachments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentCreateRequest {
    /// Add-on id or name.
    pub addon: String,
    /// App id or name.
    pub app: String,
    /// Config var prefix; the service's default when absent.
    pub name: Option<String>,
}

/// An add-on service for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddonServiceView {
    /// Catalog id.
    pub id: String,
    /// Name (`postgresql`).
    pub name: String,
    /// Description.
    pub description: String,
}

/// A plan for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Catalog id.
    pub id: String,
    /// `service:plan`.
    pub name: String,
    /// Description.
    pub description: String,
}

macro_rules! handler {
    ($(#[$meta:meta])* $name:ident, $scope:expr, |$state:ident, $actor:ident, $req:ident, $body:ident, $path:ident : $pt:ty| $block:block) => {
        $(#[$meta])*
        pub async fn $name(
            $req: HttpRequest,
            $body: web::Bytes,
            $path: web::Path<$pt>,
            $state: web::Data<PlatformState>,
            rid: RequestId,
        ) -> HttpResponse {
            let result = async {
                let $actor = caller(&$req, &$state, &rid, $scope)?;
                let _ = &$body;
                $block
            }
            .await;
            respond(result, &rid)
        }
    };
}

handler!(
    /// Create an app.
    #[utoipa::path(post, path = "/apps", tag = "platform", request_body = AppCreateRequest,
        responses((status = 201, body = AppView), (status = 400, body = ApiError), (status = 401, body = ApiError),
                  (status = 409, description = "Name taken", body = ApiError)),
        security(("bearer" = [])))]
    create_app, Scope::Platform, |state, actor, req, bytes, _p: ()| {
        let b: AppCreateRequest = body(&bytes, true)?;
        let app = state.platform.create_app(b.name, &actor).await?;
        Ok(HttpResponse::Created().json(app))
    }
);

handler!(
    /// List apps (`Range: name ..; max=200`).
    #[utoipa::path(get, path = "/apps", tag = "platform",
        responses((status = 200, body = Vec<AppView>), (status = 206, description = "A page; see Next-Range", body = Vec<AppView>)),
        security(("bearer" = [])))]
    list_apps, Scope::Platform, |state, _actor, req, _b, _p: ()| {
        let apps = state.platform.list_apps().await?;
        paginate(&req, apps, &["name", "id"], |a, f| if f == "id" { a.id.clone() } else { a.name.clone() })
    }
);

handler!(
    /// An app, by id or name.
    #[utoipa::path(get, path = "/apps/{app}", tag = "platform", params(("app" = String, Path, description = "id or name")),
        responses((status = 200, body = AppView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_app, Scope::Platform, |state, _actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.platform.get_app(path.into_inner()).await?))
    }
);

handler!(
    /// Rename an app.
    #[utoipa::path(patch, path = "/apps/{app}", tag = "platform", params(("app" = String, Path, description = "id or name")),
        request_body = AppUpdateRequest,
        responses((status = 200, body = AppView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)),
        security(("bearer" = [])))]
    update_app, Scope::Platform, |state, actor, _req, bytes, path: String| {
        let b: AppUpdateRequest = body(&bytes, false)?;
        Ok(HttpResponse::Ok().json(state.platform.rename_app(path.into_inner(), b.name, &actor).await?))
    }
);

handler!(
    /// Delete an app; with add-ons, `confirm` must repeat its name.
    #[utoipa::path(delete, path = "/apps/{app}", tag = "platform",
        params(("app" = String, Path, description = "id or name"), ("confirm" = Option<String>, Query, description = "the app's name")),
        request_body = AppDeleteRequest,
        responses((status = 200, body = AppView), (status = 404, body = ApiError), (status = 409, description = "Has add-ons; confirm", body = ApiError)),
        security(("bearer" = [])))]
    delete_app, Scope::Platform, |state, actor, req, bytes, path: String| {
        let b: AppDeleteRequest = body(&bytes, true)?;
        let query = web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
            .map_err(|e| Error::BadRequest(format!("malformed query string: {e}")))?;
        let confirm = b.confirm.or_else(|| query.get("confirm").cloned());
        Ok(HttpResponse::Ok().json(state.platform.delete_app(path.into_inner(), confirm, &actor).await?))
    }
);

handler!(
    /// An app's config vars.
    #[utoipa::path(get, path = "/apps/{app}/config-vars", tag = "platform", params(("app" = String, Path, description = "id or name")),
        responses((status = 200, body = BTreeMap<String, String>), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_config_vars, Scope::Platform, |state, actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.platform.config_vars(path.into_inner(), &actor).await?))
    }
);

handler!(
    /// Set (`"value"`) and unset (`null`) config vars; one release per effective change.
    #[utoipa::path(patch, path = "/apps/{app}/config-vars", tag = "platform", params(("app" = String, Path, description = "id or name")),
        request_body(content = BTreeMap<String, Option<String>>),
        responses((status = 200, body = BTreeMap<String, String>), (status = 400, body = ApiError), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    patch_config_vars, Scope::Platform, |state, actor, _req, bytes, path: String| {
        let raw: serde_json::Map<String, Value> = body(&bytes, false)?;
        let mut changes = BTreeMap::new();
        for (k, v) in raw {
            let v = match v {
                Value::Null => None,
                Value::String(s) => Some(s),
                _ => return Err(Error::BadRequest(format!("config var {} must be a string or null", clip(&k)))),
            };
            changes.insert(k, v);
        }
        let app = path.into_inner();
        state.platform.patch_config_vars(app.clone(), changes, &actor).await?;
        Ok(HttpResponse::Ok().json(state.platform.config_vars(app, &actor).await?))
    }
);

handler!(
    /// An app's releases (`Range: version ..; max=200`).
    #[utoipa::path(get, path = "/apps/{app}/releases", tag = "platform", params(("app" = String, Path, description = "id or name")),
        responses((status = 200, body = Vec<ReleaseView>), (status = 206, body = Vec<ReleaseView>), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    list_releases, Scope::Platform, |state, actor, req, _b, path: String| {
        let list = state.platform.releases(path.into_inner(), &actor).await?;
        paginate(&req, list, &["version", "id"], |r, f| if f == "id" { r.id.clone() } else { numeric_key(r.version.into()) })
    }
);

handler!(
    /// A release, by id or version.
    #[utoipa::path(get, path = "/apps/{app}/releases/{release}", tag = "platform",
        params(("app" = String, Path, description = "id or name"), ("release" = String, Path, description = "id or version")),
        responses((status = 200, body = ReleaseView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_release, Scope::Platform, |state, actor, _req, _b, path: (String, String)| {
        let (app, release) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.platform.release(app, release, &actor).await?))
    }
);

handler!(
    /// Roll config vars back to a release's, as a new release.
    #[utoipa::path(post, path = "/apps/{app}/releases", tag = "platform", params(("app" = String, Path, description = "id or name")),
        request_body = RollbackRequest,
        responses((status = 201, body = ReleaseView), (status = 400, body = ApiError), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    rollback, Scope::Platform, |state, actor, _req, bytes, path: String| {
        let b: RollbackRequest = body(&bytes, false)?;
        let release = match b.release {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return Err(Error::BadRequest("release must be a release id or version".into())),
        };
        Ok(HttpResponse::Created().json(state.platform.rollback(path.into_inner(), release, &actor).await?))
    }
);

handler!(
    /// Create an add-on: provision, bind, attach, release the config vars (202 while provisioning goes on).
    #[utoipa::path(post, path = "/apps/{app}/addons", tag = "platform", params(("app" = String, Path, description = "id or name")),
        request_body = AddonCreateRequest,
        responses((status = 201, body = AddonView), (status = 202, description = "Provisioning; vars arrive in a later release", body = AddonView),
                  (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError),
                  (status = 422, description = "Unknown plan", body = ApiError)),
        security(("bearer" = [])))]
    create_addon, Scope::Platform, |state, actor, _req, bytes, path: String| {
        let b: AddonCreateRequest = body(&bytes, false)?;
        let req = NewAddon {
            plan: b.plan,
            attachment_name: b.attachment.and_then(|a| a.name),
            config: match b.config { None | Some(Value::Null) => json!({}), Some(v) => v },
            name: b.name,
        };
        Ok(match state.platform.create_addon(path.into_inner(), req, &actor).await? {
            crate::platform::AddonCreated::Provisioned(view) => HttpResponse::Created().json(view),
            crate::platform::AddonCreated::Provisioning(view) => HttpResponse::Accepted().json(view),
        })
    }
);

handler!(
    /// An app's add-ons (owned or attached).
    #[utoipa::path(get, path = "/apps/{app}/addons", tag = "platform", params(("app" = String, Path, description = "id or name")),
        responses((status = 200, body = Vec<AddonView>), (status = 206, body = Vec<AddonView>), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    list_app_addons, Scope::Platform, |state, _actor, req, _b, path: String| {
        let list = state.platform.list_addons(Some(path.into_inner())).await?;
        paginate(&req, list, &["name", "id"], |a, f| if f == "id" { a.id.clone() } else { a.name.clone() })
    }
);

handler!(
    /// All add-ons.
    #[utoipa::path(get, path = "/addons", tag = "platform",
        responses((status = 200, body = Vec<AddonView>), (status = 206, body = Vec<AddonView>)), security(("bearer" = [])))]
    list_addons, Scope::Platform, |state, _actor, req, _b, _p: ()| {
        let list = state.platform.list_addons(None).await?;
        paginate(&req, list, &["name", "id"], |a, f| if f == "id" { a.id.clone() } else { a.name.clone() })
    }
);

handler!(
    /// An add-on of an app.
    #[utoipa::path(get, path = "/apps/{app}/addons/{addon}", tag = "platform",
        params(("app" = String, Path, description = "id or name"), ("addon" = String, Path, description = "id or name")),
        responses((status = 200, body = AddonView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    get_addon, Scope::Platform, |state, _actor, _req, _b, path: (String, String)| {
        let (app, addon) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.platform.get_addon(app, addon).await?))
    }
);

handler!(
    /// Change an add-on's plan.
    #[utoipa::path(patch, path = "/apps/{app}/addons/{addon}", tag = "platform",
        params(("app" = String, Path, description = "id or name"), ("addon" = String, Path, description = "id or name")),
        request_body = AddonUpdateRequest,
        responses((status = 200, body = AddonView), (status = 404, body = ApiError), (status = 422, body = ApiError)),
        security(("bearer" = [])))]
    update_addon, Scope::Platform, |state, actor, _req, bytes, path: (String, String)| {
        let b: AddonUpdateRequest = body(&bytes, false)?;
        let (app, addon) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.platform.change_plan(app, addon, b.plan, &actor).await?))
    }
);

handler!(
    /// Destroy an add-on: detach everywhere (one release per app), unbind, deprovision.
    #[utoipa::path(delete, path = "/apps/{app}/addons/{addon}", tag = "platform",
        params(("app" = String, Path, description = "id or name"), ("addon" = String, Path, description = "id or name")),
        responses((status = 200, body = AddonView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    delete_addon, Scope::Platform, |state, actor, _req, _b, path: (String, String)| {
        let (app, addon) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.platform.delete_addon(app, addon, &actor).await?))
    }
);

handler!(
    /// Attach an existing add-on to an app, with its own credentials.
    #[utoipa::path(post, path = "/addon-attachments", tag = "platform", request_body = AttachmentCreateRequest,
        responses((status = 201, body = AttachmentView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)),
        security(("bearer" = [])))]
    create_attachment, Scope::Platform, |state, actor, _req, bytes, _p: ()| {
        let b: AttachmentCreateRequest = body(&bytes, false)?;
        Ok(HttpResponse::Created().json(state.platform.create_attachment(b.addon, b.app, b.name, &actor).await?))
    }
);

handler!(
    /// An app's attachments.
    #[utoipa::path(get, path = "/apps/{app}/addon-attachments", tag = "platform", params(("app" = String, Path, description = "id or name")),
        responses((status = 200, body = Vec<AttachmentView>), (status = 206, body = Vec<AttachmentView>), (status = 404, body = ApiError)),
        security(("bearer" = [])))]
    list_attachments, Scope::Platform, |state, _actor, req, _b, path: String| {
        let list = state.platform.list_attachments(path.into_inner()).await?;
        paginate(&req, list, &["name", "id"], |a, f| if f == "id" { a.id.clone() } else { a.name.clone() })
    }
);

handler!(
    /// Detach: unbind (the credentials stop working) and remove the vars in a release.
    #[utoipa::path(delete, path = "/addon-attachments/{id}", tag = "platform", params(("id" = String, Path, description = "attachment id")),
        responses((status = 200, body = AttachmentView), (status = 404, body = ApiError)), security(("bearer" = [])))]
    delete_attachment, Scope::Platform, |state, actor, _req, _b, path: String| {
        Ok(HttpResponse::Ok().json(state.platform.delete_attachment(path.into_inner(), &actor).await?))
    }
);

handler!(
    /// The add-on services of the catalog.
    #[utoipa::path(get, path = "/addon-services", tag = "platform",
        responses((status = 200, body = Vec<AddonServiceView>)), security(("bearer" = [])))]
    list_addon_services, Scope::Platform, |state, _actor, _req, _b, _p: ()| {
        let list: Vec<AddonServiceView> = state
            .platform
            .provisioning()
            .catalog()
            .services()
            .map(|s| AddonServiceView { id: s.id.clone(), name: s.name.clone(), description: s.description.clone() })
            .collect();
        Ok(HttpResponse::Ok().json(list))
    }
);

handler!(
    /// A service's plans.
    #[utoipa::path(get, path = "/addon-services/{service}/plans", tag = "platform", params(("service" = String, Path, description = "id or name")),
        responses((status = 200, body = Vec<PlanView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
    list_addon_plans, Scope::Platform, |state, _actor, _req, _b, path: String| {
        let wanted = path.into_inner();
        let catalog = state.platform.provisioning().catalog();
        let service = catalog
            .services()
            .find(|s| s.name == wanted || s.id == wanted)
            .ok_or_else(|| Error::NotFound(format!("no add-on service {}", clip(&wanted))))?;
        let plans: Vec<PlanView> = service
            .plans
            .iter()
            .map(|p| PlanView { id: p.id.clone(), name: format!("{}:{}", service.name, p.name), description: p.description.clone() })
            .collect();
        Ok(HttpResponse::Ok().json(plans))
    }
);

handler!(
    /// Single sign-on into a third-party add-on's dashboard: POST `params` to `action` (or open
    /// `url`) within 5 minutes. Owner or admin.
    #[utoipa::path(get, path = "/apps/{app}/addons/{addon}/sso", tag = "platform",
        params(("app" = String, Path, description = "id or name"), ("addon" = String, Path, description = "id or name")),
        responses((status = 200, body = crate::marketplace::SsoView), (status = 403, body = ApiError), (status = 404, body = ApiError),
                  (status = 422, description = "Not a third-party add-on", body = ApiError)),
        security(("bearer" = [])))]
    addon_sso, Scope::Platform, |state, actor, _req, _b, path: (String, String)| {
        let (app, addon) = path.into_inner();
        Ok(HttpResponse::Ok().json(state.marketplace.sso(app, addon, &actor).await?))
    }
);

handler!(
    /// The audit log (the latest 10,000 entries; `?target=app/<id>&actor=&request_id=&action=`); admin scope.
    #[utoipa::path(get, path = "/admin/audit", tag = "platform",
        params(("target" = Option<String>, Query, description = "only entries about this target"),
               ("actor" = Option<String>, Query, description = "only entries by this originating identity or token subject"),
               ("request_id" = Option<String>, Query, description = "only entries of this request"),
               ("action" = Option<String>, Query, description = "only actions starting with this (`admin.provider`)")),
        responses((status = 200, body = Vec<AuditView>), (status = 401, body = ApiError), (status = 403, description = "Needs scope admin", body = ApiError)),
        security(("bearer" = [])))]
    list_audit, Scope::Admin, |state, _actor, req, _b, _p: ()| {
        let query = web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
            .map_err(|e| Error::BadRequest(format!("malformed query string: {e}")))?;
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
        paginate(&req, entries, &["at", "id"], |e, f| if f == "id" { e.id.clone() } else { format!("{}/{}", e.at, e.id) })
    }
);

/// Mounts the platform routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/apps")
            .route(web::post().to(create_app))
            .route(web::get().to(list_apps)),
    )
    .service(
        web::resource("/apps/{app}")
            .route(web::get().to(get_app))
            .route(web::patch().to(update_app))
            .route(web::delete().to(delete_app)),
    )
    .service(
        web::resource("/apps/{app}/config-vars")
            .route(web::get().to(get_config_vars))
            .route(web::patch().to(patch_config_vars)),
    )
    .service(
        web::resource("/apps/{app}/releases")
            .route(web::get().to(list_releases))
            .route(web::post().to(rollback)),
    )
    .route("/apps/{app}/releases/{release}", web::get().to(get_release))
    .service(
        web::resource("/apps/{app}/addons")
            .route(web::post().to(create_addon))
            .route(web::get().to(list_app_addons)),
    )
    .service(
        web::resource("/apps/{app}/addons/{addon}")
            .route(web::get().to(get_addon))
            .route(web::patch().to(update_addon))
            .route(web::delete().to(delete_addon)),
    )
    .route("/addons", web::get().to(list_addons))
    .route("/addon-attachments", web::post().to(create_attachment))
    .route("/apps/{app}/addon-attachments", web::get().to(list_attachments))
    .route("/addon-attachments/{id}", web::delete().to(delete_attachment))
    .route("/addon-services", web::get().to(list_addon_services))
    .route("/addon-services/{service}/plans", web::get().to(list_addon_plans))
    .route("/apps/{app}/addons/{addon}/sso", web::get().to(addon_sso))
    .route("/admin/audit", web::get().to(list_audit));
}
