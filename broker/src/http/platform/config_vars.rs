//! An app's config vars: read, and set or unset (each effective change is a release).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde_json::Value;

use crate::catalog::clip;
use crate::error::Error;
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::input::json_body;
use crate::http::state::PlatformState;

/// An app's config vars.
#[utoipa::path(get, path = "/apps/{app}/config-vars", tag = "platform", params(("app" = String, Path, description = "id or name")),
    responses((status = 200, body = BTreeMap<String, String>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn get_config_vars(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.platform.config_vars(path.into_inner(), &caller.actor).await?))
}

/// Set (`"value"`) and unset (`null`) config vars; one release per effective change.
#[utoipa::path(patch, path = "/apps/{app}/config-vars", tag = "platform", params(("app" = String, Path, description = "id or name")),
    request_body(content = BTreeMap<String, Option<String>>),
    responses((status = 200, body = BTreeMap<String, String>), (status = 400, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn patch_config_vars(
    caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let raw: serde_json::Map<String, Value> = json_body(&caller.body, false)?;
    let mut changes = BTreeMap::new();
    for (k, v) in raw {
        let v = match v {
            Value::Null => None,
            Value::String(s) => Some(s),
            _ => return Err(Error::BadRequest(format!("config var {} must be a string or null", clip(&k))).into()),
        };
        changes.insert(k, v);
    }
    let app = path.into_inner();
    state
        .platform
        .patch_config_vars(app.clone(), changes, &caller.actor)
        .await?;
    Ok(HttpResponse::Ok().json(state.platform.config_vars(app, &caller.actor).await?))
}
