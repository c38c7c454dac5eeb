//! How add-ons map onto the catalog: `service:plan` names, service metadata (`api.requires`,
//! config var prefixes) and the catalog ids an add-on's instance runs on.

use serde_json::Value;

use super::domain::Platform;
use crate::catalog::clip;
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

impl Platform {
    /// Resolves `service:plan` against the catalog.
    pub(super) fn resolve_plan(&self, plan: &str) -> Result<ResolvedPlan> {
        let (service, plan_name) = plan
            .split_once(':')
            .ok_or_else(|| Error::Unprocessable(format!("plan {} must be service:plan", clip(plan))))?;
        let catalog = self.provisioning.catalog();
        let svc = catalog
            .services()
            .find(|s| s.name == service)
            .ok_or_else(|| Error::Unprocessable(format!("no add-on service {}", clip(service))))?;
        let p = svc
            .plans
            .iter()
            .find(|p| p.name == plan_name)
            .ok_or_else(|| Error::Unprocessable(format!("service {} has no plan {}", svc.name, clip(plan_name))))?;
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
