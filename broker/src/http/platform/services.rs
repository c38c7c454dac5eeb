//! The add-on catalog for people: services and their plans (`service:plan` names).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;
use crate::http::errors::ApiError;
use crate::http::extract::PlatformCaller;
use crate::http::state::PlatformState;
use crate::platform::unknown_service;

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
    /// Whether a bare service name (`POST /apps/{app}/addons {"plan": "redis"}`) takes this
    /// plan: exactly one plan of each service is.
    pub default: bool,
}

/// The add-on services of the catalog.
#[utoipa::path(get, path = "/addon-services", tag = "platform",
    responses((status = 200, body = Vec<AddonServiceView>)), security(("bearer" = [])))]
pub async fn list_addon_services(
    _caller: PlatformCaller,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let list: Vec<AddonServiceView> = state
        .platform
        .provisioning()
        .catalog()
        .services()
        .map(|s| AddonServiceView {
            id: s.id.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// A service's plans.
#[utoipa::path(get, path = "/addon-services/{service}/plans", tag = "platform", params(("service" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<PlanView>), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn list_addon_plans(
    _caller: PlatformCaller,
    path: web::Path<String>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let wanted = path.into_inner();
    let catalog = state.platform.provisioning().catalog();
    let service = catalog
        .services()
        .find(|s| s.name == wanted || s.id == wanted)
        .ok_or_else(|| Error::NotFound(unknown_service(&catalog, &wanted)))?;
    let default = service.default_plan().map(|p| p.id.clone());
    let plans: Vec<PlanView> = service
        .plans
        .iter()
        .map(|p| PlanView {
            id: p.id.clone(),
            name: format!("{}:{}", service.name, p.name),
            description: p.description.clone(),
            default: default.as_ref() == Some(&p.id),
        })
        .collect();
    Ok(HttpResponse::Ok().json(plans))
}
