//! How add-ons map onto the catalog: `service:plan` names (a bare `service` is its default
//! plan; unknown names are answered with the valid ones), service metadata (`api.requires`,
//! config var prefixes) and the catalog ids an add-on's instance runs on.

use providers::ServiceDef;
use serde_json::Value;

use super::domain::Platform;
use crate::catalog::{clip, Catalog};
use crate::db::models::{Addon, Instance};
use crate::error::{Error, Result};

/// A `service:plan` resolved against the catalog.
pub(super) struct ResolvedPlan {
    /// Catalog service id.
    pub service_id: String,
    /// Catalog plan id.
    pub plan_id: String,
    /// Service name.
    pub service: String,
    /// Plan name.
    pub plan: String,
}

/// `api.requires` of a partner service (from its catalog metadata); `None` for services
/// without the restriction (built-ins and federated ones allow everything).
pub(super) fn requires(metadata: &Option<Value>) -> Option<Vec<String>> {
    metadata
        .as_ref()
        .and_then(|m| m.get("addonRequires"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
}

/// `no service "redsi"; services: kafka, postgresql, redis` (the offered ones, by name).
pub(crate) fn unknown_service(catalog: &Catalog, wanted: &str) -> String {
    let mut names: Vec<&str> = catalog.services().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    let list = if names.is_empty() {
        "none is offered".to_string()
    } else {
        names.join(", ")
    };
    format!("no service \"{}\"; services: {list}", clip(wanted))
}

/// `service redis has no plan "huge"; plans: redis:shared, redis:shared-large`.
fn unknown_plan(service: &ServiceDef, wanted: &str) -> String {
    let plans: Vec<String> = service
        .plans
        .iter()
        .map(|p| format!("{}:{}", service.name, p.name))
        .collect();
    format!(
        "service {} has no plan \"{}\"; plans: {}",
        service.name,
        clip(wanted),
        plans.join(", ")
    )
}

impl Platform {
    /// Resolves `service:plan` (or a bare `service`, meaning its default plan) against the
    /// catalog; an unknown service or plan is a 422 that lists the valid ones.
    pub(super) fn resolve_plan(&self, plan: &str) -> Result<ResolvedPlan> {
        let (service, plan_name) = match plan.split_once(':') {
            Some((service, plan_name)) => (service, Some(plan_name)),
            None => (plan, None),
        };
        let catalog = self.provisioning.catalog();
        let svc = catalog
            .services()
            .find(|s| s.name == service)
            .ok_or_else(|| Error::Unprocessable(unknown_service(&catalog, service)))?;
        let p = match plan_name {
            Some(name) => svc.plans.iter().find(|p| p.name == name),
            None => svc.default_plan(),
        };
        let p = p.ok_or_else(|| Error::Unprocessable(unknown_plan(svc, plan_name.unwrap_or_default())))?;
        Ok(ResolvedPlan {
            service_id: svc.id.clone(),
            plan_id: p.id.clone(),
            service: svc.name.clone(),
            plan: p.name.clone(),
        })
    }

    /// The catalog metadata of a service (by id), when the catalog has it.
    pub(super) fn service_metadata(&self, service_id: &str) -> Option<Value> {
        self.provisioning
            .catalog()
            .provider(service_id)
            .map(|p| p.service().metadata.clone())
    }

    /// The catalog ids an add-on's instance is on now (the instance is the truth: a plan change
    /// that outlived its request has moved it even if the add-on row lags).
    pub(super) async fn instance_ids(&self, addon: &Addon) -> Result<(String, String)> {
        let id = addon.id.clone();
        match self.db.run(move |c| Instance::find(c, &id)).await? {
            Some(inst) => {
                if let Some(plan) = self
                    .provisioning
                    .catalog()
                    .resolve(&inst.service_id, &inst.plan_id)
                    .ok()
                    .map(|(_, p)| p.name.clone())
                {
                    if plan != addon.plan {
                        let id = addon.id.clone();
                        self.db.write(move |c| Addon::set_plan(c, &id, &plan, None)).await?;
                    }
                }
                Ok((inst.service_id, inst.plan_id))
            }
            None => {
                let plan = self.resolve_plan(&addon.plan_name())?;
                Ok((plan.service_id, plan.plan_id))
            }
        }
    }
}
