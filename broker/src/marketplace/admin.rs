//! The operator's views of every instance and operation (built-in, partner and federated
//! alike), and forced deprovision of an instance whatever is attached to it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::Marketplace;
use crate::db::models::{Addon, AdminScope, App, Binding, Instance, Operation};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::platform::{iso, Actor};
use crate::provisioning::audit;

/// What an operator sees of an instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminInstanceView {
    /// Instance id (the add-on id for platform add-ons).
    pub id: String,
    /// Service name.
    pub service: String,
    /// Plan name.
    pub plan: String,
    /// Owning provider id (the service name for built-ins).
    pub provider: String,
    /// `provisioning`, `provisioned`, `failed`, `deprovisioned`.
    pub state: String,
    /// The platform app that owns it, when it is an add-on.
    pub app: Option<String>,
    /// The add-on name, when it is an add-on.
    pub addon: Option<String>,
    /// The operation in progress.
    pub active_operation: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// What an operator sees of an operation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminOperationView {
    /// Operation id.
    pub id: String,
    /// `provision`, `update`, `deprovision`, `bind`, `unbind`.
    pub kind: String,
    /// `in_progress`, `succeeded`, `failed`.
    pub state: String,
    /// The instance.
    pub instance_id: String,
    /// The binding, for bind and unbind.
    pub binding_id: Option<String>,
    /// Owning provider id.
    pub provider: Option<String>,
    /// The app, when the instance is an add-on.
    pub app: Option<String>,
    /// What happened.
    pub description: Option<String>,
    /// Attempts so far.
    pub attempts: i32,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// End time.
    pub finished_at: Option<String>,
}

/// Filters of the admin lists.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this provider's services.
    pub provider: Option<String>,
    /// Only add-ons of this app (id or name).
    pub app: Option<String>,
    /// Operations only: this kind.
    pub kind: Option<String>,
    /// Operations only: this instance.
    pub instance: Option<String>,
}

impl Marketplace {
    /// Deprovisions an instance whatever is attached to it: an add-on is detached from every
    /// app (one release each) and destroyed; a plain OSB instance has its bindings removed
    /// first. Waits for the result.
    pub async fn force_deprovision(&self, instance_id: String, actor: &Actor) -> Result<AdminInstanceView> {
        crate::provisioning::validate_id("instance_id", &instance_id)?;
        let id = instance_id.clone();
        let (inst, addon, live_bindings) = self
            .inner
            .db
            .run(move |c| {
                let inst = Instance::find(c, &id)?;
                let addon = Addon::get(c, &id)?;
                let live = Binding::live_of_instance(c, &id)?;
                Ok((inst, addon, live))
            })
            .await?;
        let inst = inst
            .filter(Instance::is_live)
            .ok_or_else(|| Error::NotFound(format!("instance {instance_id} does not exist or is deprovisioned")))?;
        if inst.active_operation_id.is_some() {
            return Err(Error::ConcurrencyError(format!(
                "instance {instance_id} has an operation in progress; try again when it ends"
            )));
        }
        let meta = actor.meta();
        let target = format!("instance/{instance_id}");
        self.inner
            .db
            .write(move |c| audit(c, &meta, "admin.instance.deprovision", target.clone(), json!({})))
            .await?;
        if let Some(addon) = addon {
            self.inner.platform.force_destroy_addon(addon.id, actor).await?;
        } else {
            let provisioning = self.inner.platform.provisioning();
            for b in live_bindings {
                match provisioning
                    .unbind(
                        inst.id.clone(),
                        b.id.clone(),
                        b.service_id.clone(),
                        b.plan_id.clone(),
                        false,
                        actor.meta(),
                    )
                    .await
                {
                    Ok(_) | Err(Error::Gone(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            match provisioning
                .deprovision(
                    inst.id.clone(),
                    inst.service_id.clone(),
                    inst.plan_id.clone(),
                    false,
                    actor.meta(),
                )
                .await
            {
                Ok(_) | Err(Error::Gone(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let filter = AdminFilter::default();
        self.instances(filter)
            .await?
            .into_iter()
            .find(|v| v.id == instance_id)
            .ok_or_else(|| Error::NotFound(format!("instance {instance_id} vanished")))
    }

    /// Instances, filtered by state, provider and app.
    pub async fn instances(&self, filter: AdminFilter) -> Result<Vec<AdminInstanceView>> {
        let catalog = self.inner.catalog.current();
        let services = filter.provider.as_ref().map(|p| catalog.services_of(p));
        let rows = self
            .inner
            .db
            .run(move |c| {
                let scope = scope(filter, services, c)?;
                Instance::admin_list(c, &scope)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(inst, addon, app)| {
                let (service, plan) = catalog
                    .resolve(&inst.service_id, &inst.plan_id)
                    .map(|(p, plan)| (p.service().name.clone(), plan.name.clone()))
                    .unwrap_or_else(|_| (inst.service_id.clone(), inst.plan_id.clone()));
                AdminInstanceView {
                    provider: catalog.owner(&inst.service_id).unwrap_or("unknown").to_string(),
                    id: inst.id,
                    service,
                    plan,
                    state: inst.state,
                    app,
                    addon,
                    active_operation: inst.active_operation_id,
                    created_at: iso(inst.created_at),
                    updated_at: iso(inst.updated_at),
                }
            })
            .collect())
    }

    /// Operations, filtered by state, provider, app, kind and instance.
    pub async fn operations(&self, filter: AdminFilter) -> Result<Vec<AdminOperationView>> {
        let catalog = self.inner.catalog.current();
        let services = filter.provider.as_ref().map(|p| catalog.services_of(p));
        let rows = self
            .inner
            .db
            .run(move |c| {
                let scope = scope(filter, services, c)?;
                Operation::admin_list(c, &scope)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(op, service, app)| AdminOperationView {
                provider: service.and_then(|s| catalog.owner(&s).map(str::to_string)),
                id: op.id,
                kind: op.kind,
                state: op.state,
                instance_id: op.instance_id,
                binding_id: op.binding_id,
                app,
                description: op.description,
                attempts: op.attempts,
                created_at: iso(op.created_at),
                updated_at: iso(op.updated_at),
                finished_at: op.finished_at.map(iso),
            })
            .collect())
    }
}

/// The stored filter of an operator's list: the provider's services, and the app (named by id
/// or name) as its id.
fn scope(filter: AdminFilter, services: Option<Vec<String>>, c: &mut DbConnection) -> Result<AdminScope> {
    let app_id = match &filter.app {
        None => None,
        // An unknown app matches nothing rather than everything (no app id has a space).
        Some(a) => Some(App::resolve_id(c, a)?.unwrap_or_else(|| "no such app".into())),
    };
    Ok(AdminScope {
        state: filter.state,
        kind: filter.kind,
        instance: filter.instance,
        services,
        app_id,
    })
}
