//! Service instances: provision, update, deprovision, fetch, and their `last_operation`.

use std::time::Duration;

use providers::OperationKind;
use serde_json::Value;

use super::domain::{audit, validate_id, Decision, Provisioning, Reply, RequestMeta};
use super::views::{parse_json, InstanceView, LastOperation};
use crate::catalog::{clip, Catalog, SchemaKind};
use crate::db::models::{instance_state, Binding, Instance, Operation};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::ids::InstanceId;
use crate::jobs::{Jobs, UpdatePlan};

/// A provision request, validated for form by the HTTP layer.
#[derive(Debug, Clone)]
pub struct ProvisionInput {
    /// Instance id.
    pub instance_id: String,
    /// Catalog service id.
    pub service_id: String,
    /// Catalog plan id.
    pub plan_id: String,
    /// Deprecated OSB field.
    pub organization_guid: String,
    /// Deprecated OSB field.
    pub space_guid: String,
    /// OSB context object.
    pub context: Value,
    /// Plan parameters (an object).
    pub parameters: Value,
    /// `maintenance_info.version`, when given.
    pub maintenance_version: Option<String>,
    /// `accepts_incomplete=true`.
    pub accepts_incomplete: bool,
    /// With `accepts_incomplete`: wait up to this long for the operation anyway, answering
    /// `Created` when it finished in time and `Accepted` otherwise (the platform API's choice).
    pub prefer_wait: Option<Duration>,
}

/// An update request.
#[derive(Debug, Clone)]
pub struct UpdateInput {
    /// Instance id.
    pub instance_id: String,
    /// Catalog service id (must be the instance's).
    pub service_id: String,
    /// Target plan id, when changing plan.
    pub plan_id: Option<String>,
    /// Parameters to change (merged over the current ones).
    pub parameters: Option<Value>,
    /// OSB context object.
    pub context: Option<Value>,
    /// `maintenance_info.version`, when given.
    pub maintenance_version: Option<String>,
    /// `accepts_incomplete=true`.
    pub accepts_incomplete: bool,
}

fn check_maintenance(requested: &Option<String>, plan: &providers::PlanDef) -> Result<()> {
    match requested {
        Some(v) if *v != plan.maintenance_info.version => Err(Error::MaintenanceInfoConflict(format!(
            "maintenance_info.version {} does not match plan {} (version {})",
            clip(v),
            plan.name,
            plan.maintenance_info.version
        ))),
        _ => Ok(()),
    }
}

fn busy_instance(id: &str) -> String {
    format!("another operation is in progress on instance {id}")
}

impl Provisioning {
    /// Provisions an instance (OSB `PUT /v2/service_instances/:id`).
    pub async fn provision(&self, input: ProvisionInput, meta: RequestMeta) -> Result<Reply<Option<String>>> {
        validate_id("instance_id", &input.instance_id)?;
        let catalog = self.catalog.current();
        let (_, plan) = catalog.resolve_offered(&input.service_id, &input.plan_id)?;
        check_maintenance(&input.maintenance_version, plan)?;
        catalog.validate(plan, SchemaKind::InstanceCreate, &input.parameters)?;
        let maintenance = plan.maintenance_info.version.clone();
        let (accepts_incomplete, prefer_wait) = (input.accepts_incomplete, input.prefer_wait);
        let id = InstanceId::new(input.instance_id.clone());
        let jobs = self.jobs.clone();
        let decision = self
            .db
            .write(move |c| decide_provision(c, &jobs, &input, &maintenance, &meta))
            .await?;
        self.settle(decision, accepts_incomplete, prefer_wait, move |this, _| {
            Box::pin(async move {
                let inst = this.db.run(move |c| Instance::find(c, id.as_str())).await?;
                Ok(inst.and_then(|i| i.dashboard_url))
            })
        })
        .await
    }

    /// Updates an instance's plan or parameters (OSB `PATCH`).
    pub async fn update(&self, input: UpdateInput, meta: RequestMeta) -> Result<Reply<()>> {
        validate_id("instance_id", &input.instance_id)?;
        let catalog = self.catalog.current();
        let accepts_incomplete = input.accepts_incomplete;
        let jobs = self.jobs.clone();
        let decision = self
            .db
            .write(move |c| decide_update(c, &jobs, &catalog, &input, &meta))
            .await?;
        self.settle_unit(decision, accepts_incomplete).await
    }

    /// Deprovisions an instance (OSB `DELETE`).
    pub async fn deprovision(
        &self,
        instance_id: String,
        service_id: String,
        plan_id: String,
        accepts_incomplete: bool,
        meta: RequestMeta,
    ) -> Result<Reply<()>> {
        validate_id("instance_id", &instance_id)?;
        self.catalog.current().resolve(&service_id, &plan_id)?;
        let jobs = self.jobs.clone();
        let id = InstanceId::new(instance_id);
        let decision = self.db.write(move |c| decide_deprovision(c, &jobs, &id, &meta)).await?;
        self.settle_unit(decision, accepts_incomplete).await
    }

    /// The instance as the platform sees it (OSB `GET`); 404 unless provisioned.
    pub async fn get_instance(&self, instance_id: String) -> Result<InstanceView> {
        validate_id("instance_id", &instance_id)?;
        let inst = self.db.run(move |c| Instance::find(c, &instance_id)).await?;
        match inst {
            Some(i) if i.state == instance_state::PROVISIONED && i.active_operation_id.is_some() => {
                Err(Error::ConcurrencyError(format!("instance {} is being changed", i.id)))
            }
            Some(i) if i.state == instance_state::PROVISIONED => Ok(InstanceView::from(i)),
            Some(i) if i.state == instance_state::PROVISIONING => {
                Err(Error::NotFound(format!("instance {} is still being provisioned", i.id)))
            }
            _ => Err(Error::NotFound("instance does not exist".into())),
        }
    }

    /// The state of an instance operation (OSB `last_operation`).
    pub async fn instance_last_operation(
        &self,
        instance_id: String,
        operation: Option<String>,
    ) -> Result<LastOperation> {
        validate_id("instance_id", &instance_id)?;
        let (inst, op) = self
            .db
            .run(move |c| {
                let Some(inst) = Instance::find(c, &instance_id)? else {
                    return Err(Error::NotFound(format!("instance {instance_id} does not exist")));
                };
                // A given operation id answers only when it is this instance's; any other value
                // falls back to the latest operation rather than being rejected.
                let asked = match operation {
                    Some(id) => Operation::find(c, &id)?.filter(|o| o.instance_id == inst.id && o.binding_id.is_none()),
                    None => None,
                };
                let op = match asked {
                    Some(op) => Some(op),
                    None => match &inst.last_operation_id {
                        Some(id) => Operation::find(c, id)?,
                        None => None,
                    },
                };
                Ok((inst, op))
            })
            .await?;
        let op = op.ok_or_else(|| Error::NotFound(format!("instance {} has no operation", inst.id)))?;
        Ok(LastOperation::of(&op, inst.state == instance_state::PROVISIONED))
    }
}

/// The provision decision: identical and done, identical and running, conflicting, or new.
fn decide_provision(
    c: &mut DbConnection,
    jobs: &Jobs,
    input: &ProvisionInput,
    maintenance: &str,
    meta: &RequestMeta,
) -> Result<Decision<Option<String>>> {
    let now = now_ms();
    let existing = Instance::find(c, &input.instance_id)?;
    if let Some(inst) = existing.as_ref().filter(|i| i.is_live()) {
        let same = inst.service_id == input.service_id
            && inst.plan_id == input.plan_id
            && parse_json(&inst.parameters) == input.parameters
            && inst.organization_guid == input.organization_guid
            && inst.space_guid == input.space_guid;
        if !same {
            return Err(Error::Conflict(format!(
                "instance {} already exists with different attributes",
                input.instance_id
            )));
        }
        if let Some(op_id) = &inst.active_operation_id {
            let running = Operation::find(c, op_id)?;
            return Decision::join_if(running, OperationKind::Provision, busy_instance(&input.instance_id));
        }
        if inst.state == instance_state::PROVISIONED {
            return Ok(Decision::Ready(inst.dashboard_url.clone()));
        }
    }
    // New, or a failed provision tried again over its row.
    let lease = jobs.lease_from(now);
    let op = Operation::new_leased(
        OperationKind::Provision,
        &input.instance_id,
        None,
        "{}".into(),
        &lease.token,
        lease.until,
        now,
    );
    let mut row = Instance {
        id: input.instance_id.clone(),
        service_id: input.service_id.clone(),
        plan_id: input.plan_id.clone(),
        parameters: input.parameters.to_string(),
        context: input.context.to_string(),
        organization_guid: input.organization_guid.clone(),
        space_guid: input.space_guid.clone(),
        maintenance_version: Some(maintenance.to_string()),
        dashboard_url: None,
        state: instance_state::PROVISIONING.into(),
        active_operation_id: None,
        last_operation_id: None,
        created_at: existing.as_ref().map_or(now, |i| i.created_at),
        updated_at: now,
    };
    row.begin_operation(&op.id, now);
    if existing.is_some() {
        row.save(c)?;
    } else {
        row.insert(c)?;
    }
    op.insert(c)?;
    audit(
        c,
        meta,
        "osb.provision",
        format!("instance/{}", input.instance_id),
        serde_json::json!({ "operation": op.id, "service_id": input.service_id, "plan_id": input.plan_id }),
    )?;
    Ok(Decision::started(&op, lease))
}

/// The update decision: checks the target plan and parameters, then joins the same update
/// already running or starts one.
fn decide_update(
    c: &mut DbConnection,
    jobs: &Jobs,
    catalog: &Catalog,
    input: &UpdateInput,
    meta: &RequestMeta,
) -> Result<Decision<()>> {
    let now = now_ms();
    let mut inst = Instance::find(c, &input.instance_id)?
        .filter(Instance::is_live)
        .ok_or_else(|| Error::NotFound(format!("instance {} does not exist", input.instance_id)))?;
    if inst.service_id != input.service_id {
        return Err(Error::BadRequest(format!(
            "service_id {} is not the service of instance {}",
            clip(&input.service_id),
            input.instance_id
        )));
    }
    let plan = update_plan(catalog, &inst, input)?;
    let request = serde_json::to_string(&plan).map_err(|e| Error::internal("encoding an update plan", e))?;
    if let Some(op_id) = &inst.active_operation_id {
        // Only the very same update joins; Decision::join_if cannot compare requests.
        return match Operation::find(c, op_id)? {
            Some(op) if op.is(OperationKind::Update) && op.request == request => Ok(Decision::Running(op.id.into())),
            _ => Err(Error::ConcurrencyError(busy_instance(&input.instance_id))),
        };
    }
    if inst.state != instance_state::PROVISIONED {
        return Err(Error::Unprocessable(format!(
            "instance {} cannot be updated: its provisioning failed; deprovision it",
            input.instance_id
        )));
    }
    if Binding::any_in_progress(c, &inst.id)? {
        return Err(Error::ConcurrencyError(format!(
            "a binding operation is in progress on instance {}",
            input.instance_id
        )));
    }
    let lease = jobs.lease_from(now);
    let op = Operation::new_leased(
        OperationKind::Update,
        &inst.id,
        None,
        request,
        &lease.token,
        lease.until,
        now,
    );
    inst.begin_operation(&op.id, now);
    inst.save(c)?;
    op.insert(c)?;
    audit(
        c,
        meta,
        "osb.update",
        format!("instance/{}", inst.id),
        serde_json::json!({ "operation": op.id, "plan_id": plan.plan_id }),
    )?;
    Ok(Decision::started(&op, lease))
}

/// What an update is to do: the target plan, and the parameters merged over the current ones,
/// checked against the target plan and the provider.
fn update_plan(catalog: &Catalog, inst: &Instance, input: &UpdateInput) -> Result<UpdatePlan> {
    let (provider, from_plan) = catalog.resolve(&inst.service_id, &inst.plan_id)?;
    let target_id = input.plan_id.clone().unwrap_or_else(|| inst.plan_id.clone());
    let (_, to_plan) = catalog.resolve(&inst.service_id, &target_id)?;
    if to_plan.id != from_plan.id && !to_plan.plan_updateable {
        return Err(Error::Unprocessable(format!(
            "plan {} cannot be changed",
            from_plan.name
        )));
    }
    check_maintenance(&input.maintenance_version, to_plan)?;
    let changes = input
        .parameters
        .clone()
        .unwrap_or_else(|| Value::Object(Default::default()));
    catalog.validate(to_plan, SchemaKind::InstanceUpdate, &changes)?;
    let mut merged = parse_json(&inst.parameters);
    if let (Some(into), Value::Object(from)) = (merged.as_object_mut(), changes) {
        for (k, v) in from {
            into.insert(k, v);
        }
    }
    // The request itself was valid; if the instance's existing parameters cannot
    // move to the target plan, that is an impossible change (422), not bad input.
    let check = providers::UpdateRequest {
        instance_id: inst.id.clone(),
        from_plan: from_plan.clone(),
        to_plan: to_plan.clone(),
        parameters: merged.clone(),
    };
    provider.check_update(&check).map_err(Error::Unprocessable)?;
    catalog
        .validate(to_plan, SchemaKind::InstanceCreate, &merged)
        .map_err(|e| Error::Unprocessable(e.to_string()))?;
    Ok(UpdatePlan {
        plan_id: to_plan.id.clone(),
        parameters: merged,
        context: input.context.clone().unwrap_or_else(|| parse_json(&inst.context)),
        maintenance_version: to_plan.maintenance_info.version.clone(),
    })
}

/// The deprovision decision: joins a deprovision already running or starts one.
fn decide_deprovision(
    c: &mut DbConnection,
    jobs: &Jobs,
    instance_id: &InstanceId,
    meta: &RequestMeta,
) -> Result<Decision<()>> {
    let now = now_ms();
    let mut inst = Instance::find(c, instance_id.as_str())?
        .filter(Instance::is_live)
        .ok_or_else(|| Error::Gone(format!("instance {instance_id} does not exist")))?;
    if let Some(op_id) = &inst.active_operation_id {
        let running = Operation::find(c, op_id)?;
        return Decision::join_if(running, OperationKind::Deprovision, busy_instance(instance_id.as_str()));
    }
    if Binding::any_in_progress(c, &inst.id)? {
        return Err(Error::ConcurrencyError(format!(
            "a binding operation is in progress on instance {instance_id}"
        )));
    }
    let lease = jobs.lease_from(now);
    let op = Operation::new_leased(
        OperationKind::Deprovision,
        &inst.id,
        None,
        "{}".into(),
        &lease.token,
        lease.until,
        now,
    );
    inst.begin_operation(&op.id, now);
    inst.save(c)?;
    op.insert(c)?;
    audit(
        c,
        meta,
        "osb.deprovision",
        format!("instance/{}", inst.id),
        serde_json::json!({ "operation": op.id }),
    )?;
    Ok(Decision::started(&op, lease))
}
