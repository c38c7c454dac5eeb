//! Service bindings: bind, unbind, fetch credentials, and their `last_operation`.

use providers::OperationKind;
use serde_json::Value;

use super::domain::{audit, validate_id, Decision, Provisioning, Reply, RequestMeta};
use super::views::{parse_json, BindingView, LastOperation};
use crate::catalog::SchemaKind;
use crate::crypto::Sealer;
use crate::db::models::{binding_state, instance_state, Binding, Instance, Operation};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::ids::{BindingId, InstanceId};
use crate::jobs::Jobs;

/// A bind request.
#[derive(Debug, Clone)]
pub struct BindInput {
    /// Instance id.
    pub instance_id: String,
    /// Binding id.
    pub binding_id: String,
    /// Catalog service id.
    pub service_id: String,
    /// Catalog plan id.
    pub plan_id: String,
    /// OSB context object.
    pub context: Value,
    /// `bind_resource`, with the deprecated `app_guid` folded in.
    pub bind_resource: Value,
    /// Binding parameters (an object).
    pub parameters: Value,
    /// `accepts_incomplete=true`.
    pub accepts_incomplete: bool,
}

/// What a binding row already stored under the requested id means for a bind.
enum Earlier {
    /// Nothing live under this id of this instance (none, failed, or unbound): bind anew.
    Absent,
    /// The request is answered by the earlier binding (ready or still running).
    Answers(Decision<BindingView>),
}

impl Provisioning {
    /// Binds (OSB `PUT …/service_bindings/:id`).
    pub async fn bind(&self, input: BindInput, meta: RequestMeta) -> Result<Reply<BindingView>> {
        validate_id("instance_id", &input.instance_id)?;
        validate_id("binding_id", &input.binding_id)?;
        let catalog = self.catalog.current();
        let (_, plan) = catalog.resolve(&input.service_id, &input.plan_id)?;
        if !plan.bindable {
            return Err(Error::BadRequest(format!("plan {} is not bindable", plan.name)));
        }
        catalog.validate(plan, SchemaKind::BindingCreate, &input.parameters)?;
        let accepts_incomplete = input.accepts_incomplete;
        let (instance_id, binding_id) = (input.instance_id.clone(), input.binding_id.clone());
        let sealer = self.sealer.clone();
        let jobs = self.jobs.clone();
        let decision = self
            .db
            .write(move |c| decide_bind(c, &jobs, &sealer, &input, &meta))
            .await?;
        self.settle(decision, accepts_incomplete, None, move |this, _| {
            Box::pin(async move { this.get_binding(instance_id, binding_id).await })
        })
        .await
    }

    /// Unbinds (OSB `DELETE …/service_bindings/:id`).
    pub async fn unbind(
        &self,
        instance_id: String,
        binding_id: String,
        service_id: String,
        plan_id: String,
        accepts_incomplete: bool,
        meta: RequestMeta,
    ) -> Result<Reply<()>> {
        validate_id("instance_id", &instance_id)?;
        validate_id("binding_id", &binding_id)?;
        self.catalog.current().resolve(&service_id, &plan_id)?;
        let jobs = self.jobs.clone();
        let (instance_id, binding_id) = (InstanceId::new(instance_id), BindingId::new(binding_id));
        let decision = self
            .db
            .write(move |c| decide_unbind(c, &jobs, &instance_id, &binding_id, &meta))
            .await?;
        self.settle_unit(decision, accepts_incomplete).await
    }

    /// A bound binding's credentials (OSB `GET …/service_bindings/:id`); 404 otherwise.
    pub async fn get_binding(&self, instance_id: String, binding_id: String) -> Result<BindingView> {
        validate_id("instance_id", &instance_id)?;
        validate_id("binding_id", &binding_id)?;
        let sealer = self.sealer.clone();
        self.db
            .run(move |c| match Binding::find(c, &instance_id, &binding_id)? {
                Some(b) if b.state == binding_state::BOUND => BindingView::open(&sealer, &b),
                _ => Err(Error::NotFound(format!("binding {binding_id} does not exist"))),
            })
            .await
    }

    /// The state of a binding operation (OSB binding `last_operation`).
    pub async fn binding_last_operation(
        &self,
        instance_id: String,
        binding_id: String,
        operation: Option<String>,
    ) -> Result<LastOperation> {
        validate_id("instance_id", &instance_id)?;
        validate_id("binding_id", &binding_id)?;
        let op = self
            .db
            .run(move |c| {
                let Some(b) = Binding::find(c, &instance_id, &binding_id)? else {
                    return Err(Error::NotFound(format!("binding {binding_id} does not exist")));
                };
                let asked = match operation {
                    Some(id) => Operation::find(c, &id)?.filter(|o| o.binding_id.as_deref() == Some(b.id.as_str())),
                    None => None,
                };
                match asked {
                    Some(op) => Ok(Some(op)),
                    None => match &b.last_operation_id {
                        Some(id) => Operation::find(c, id),
                        None => Ok(None),
                    },
                }
            })
            .await?;
        let op = op.ok_or_else(|| Error::NotFound("binding has no operation".into()))?;
        Ok(LastOperation::of(&op, true))
    }
}

/// The bind decision: the instance must be usable, an earlier binding under the same id
/// answers or conflicts, and otherwise a bind operation starts.
fn decide_bind(
    c: &mut DbConnection,
    jobs: &Jobs,
    sealer: &Sealer,
    input: &BindInput,
    meta: &RequestMeta,
) -> Result<Decision<BindingView>> {
    let now = now_ms();
    let inst = bindable_instance(c, input)?;
    let existing = Binding::find_any(c, &input.binding_id)?;
    if let Earlier::Answers(decision) = earlier_binding(c, sealer, input, existing.as_ref())? {
        return Ok(decision);
    }
    let lease = jobs.lease_from(now);
    let op = Operation::new_leased(
        OperationKind::Bind,
        &inst.id,
        Some(&input.binding_id),
        "{}".into(),
        &lease.token,
        lease.until,
        now,
    );
    let mut row = Binding {
        id: input.binding_id.clone(),
        instance_id: inst.id.clone(),
        service_id: input.service_id.clone(),
        plan_id: input.plan_id.clone(),
        parameters: input.parameters.to_string(),
        context: input.context.to_string(),
        bind_resource: input.bind_resource.to_string(),
        credentials: None,
        state: binding_state::BINDING.into(),
        active_operation_id: None,
        last_operation_id: None,
        created_at: existing.as_ref().map_or(now, |b| b.created_at),
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
        "osb.bind",
        format!("binding/{}", input.binding_id),
        serde_json::json!({ "operation": op.id, "instance_id": inst.id }),
    )?;
    Ok(Decision::started(&op, lease))
}

/// The instance a bind targets: live, of the request's service and plan, provisioned, idle.
fn bindable_instance(c: &mut DbConnection, input: &BindInput) -> Result<Instance> {
    let inst = Instance::find(c, &input.instance_id)?
        .filter(Instance::is_live)
        .ok_or_else(|| Error::NotFound(format!("instance {} does not exist", input.instance_id)))?;
    if inst.service_id != input.service_id || inst.plan_id != input.plan_id {
        return Err(Error::BadRequest(format!(
            "service_id and plan_id must be those of instance {}",
            input.instance_id
        )));
    }
    if inst.active_operation_id.is_some() {
        return Err(Error::ConcurrencyError(format!(
            "an operation is in progress on instance {}",
            input.instance_id
        )));
    }
    if inst.state != instance_state::PROVISIONED {
        return Err(Error::Unprocessable(format!(
            "instance {} is not usable: its provisioning failed",
            input.instance_id
        )));
    }
    Ok(inst)
}

/// Compares a bind request with the binding already stored under its id, if any.
fn earlier_binding(
    c: &mut DbConnection,
    sealer: &Sealer,
    input: &BindInput,
    existing: Option<&Binding>,
) -> Result<Earlier> {
    let Some(b) = existing else {
        return Ok(Earlier::Absent);
    };
    if !b.is_live() {
        // An unbound tombstone may be bound again, but only for the instance it was of.
        if b.instance_id != input.instance_id {
            return Err(Error::Conflict(format!(
                "binding id {} was used for another instance",
                b.id
            )));
        }
        return Ok(Earlier::Absent);
    }
    let same = b.instance_id == input.instance_id
        && b.service_id == input.service_id
        && b.plan_id == input.plan_id
        && parse_json(&b.parameters) == input.parameters
        && parse_json(&b.bind_resource) == input.bind_resource;
    if !same {
        return Err(Error::Conflict(format!(
            "binding {} already exists with different attributes",
            input.binding_id
        )));
    }
    if let Some(op_id) = &b.active_operation_id {
        let running = Operation::find(c, op_id)?;
        let busy = format!("binding {} is being removed", input.binding_id);
        return Decision::join_if(running, OperationKind::Bind, busy).map(Earlier::Answers);
    }
    if b.state == binding_state::BOUND {
        return Ok(Earlier::Answers(Decision::Ready(BindingView::open(sealer, b)?)));
    }
    // A failed bind is tried again over its row.
    Ok(Earlier::Absent)
}

/// The unbind decision: joins an unbind already running or starts one.
fn decide_unbind(
    c: &mut DbConnection,
    jobs: &Jobs,
    instance_id: &InstanceId,
    binding_id: &BindingId,
    meta: &RequestMeta,
) -> Result<Decision<()>> {
    let now = now_ms();
    let mut b = Binding::find(c, instance_id.as_str(), binding_id.as_str())?
        .filter(Binding::is_live)
        .ok_or_else(|| Error::Gone(format!("binding {binding_id} does not exist")))?;
    if let Some(op_id) = &b.active_operation_id {
        let running = Operation::find(c, op_id)?;
        return Decision::join_if(
            running,
            OperationKind::Unbind,
            format!("binding {binding_id} is being created"),
        );
    }
    let inst_busy = Instance::find(c, instance_id.as_str())?.is_some_and(|i| i.active_operation_id.is_some());
    if inst_busy {
        return Err(Error::ConcurrencyError(format!(
            "an operation is in progress on instance {instance_id}"
        )));
    }
    let lease = jobs.lease_from(now);
    let op = Operation::new_leased(
        OperationKind::Unbind,
        instance_id.as_str(),
        Some(binding_id.as_str()),
        "{}".into(),
        &lease.token,
        lease.until,
        now,
    );
    b.begin_operation(&op.id, now);
    b.save(c)?;
    op.insert(c)?;
    audit(
        c,
        meta,
        "osb.unbind",
        format!("binding/{binding_id}"),
        serde_json::json!({ "operation": op.id, "instance_id": instance_id }),
    )?;
    Ok(Decision::started(&op, lease))
}
