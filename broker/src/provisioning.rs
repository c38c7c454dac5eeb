//! OSB semantics as values: every request becomes a decision taken in one serializable
//! transaction (is this new, identical, conflicting, already running?), and the answer is a
//! [`Reply`] the HTTP layer turns into 200/201/202, or an [`Error`] it turns into 4xx.
//!
//! Mutations write their operation row first and the provider acts afterwards, in
//! [`crate::jobs`]; a request that cannot wait (`accepts_incomplete=true`) gets the operation id
//! at once, one that can waits a bounded time for the same operation to finish.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::catalog::{clip, Catalog, CatalogHandle, SchemaKind};
use crate::crypto::Sealer;
use crate::db::models::{binding_state, instance_state, op_state, AuditEntry, Binding, Instance, Operation};
use crate::db::{now_ms, Db, DbConnection};
use crate::error::{Error, Result};
use crate::jobs::{Jobs, UpdatePlan};

/// Longest id the broker accepts; longer ids cannot be OSB GUIDs and would bloat names.
pub const MAX_ID_LEN: usize = 64;

/// Who asked, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The request id (`Request-Id` / `X-Broker-API-Request-Identity`).
    pub request_id: Option<String>,
    /// The originating identity, decoded.
    pub actor: Option<String>,
}

/// How a request was answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<T> {
    /// Made now (201 for creations, 200 for the rest).
    Created(T),
    /// Already there, identical (200).
    Exists(T),
    /// Accepted and running; poll this operation (202).
    Accepted(String),
}

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

/// What the platform sees of an instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    /// Service id.
    pub service_id: String,
    /// Plan id.
    pub plan_id: String,
    /// Dashboard, when the provider has one.
    pub dashboard_url: Option<String>,
    /// Parameters.
    pub parameters: Value,
    /// Maintenance version.
    pub maintenance_version: Option<String>,
}

/// What the platform sees of a binding. `Debug` shows no secret values.
#[derive(Clone, PartialEq)]
pub struct BindingView {
    /// The OSB credentials object.
    pub credentials: serde_json::Map<String, Value>,
    /// The same secrets as env-var suffixes (`URL` → …).
    pub env: std::collections::BTreeMap<String, String>,
    /// Binding parameters.
    pub parameters: Value,
}

impl std::fmt::Debug for BindingView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindingView")
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The state of an operation as `last_operation` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct LastOperation {
    /// `in progress`, `succeeded` or `failed`.
    pub state: &'static str,
    /// What happened.
    pub description: Option<String>,
    /// After a failed update or deprovision: whether the instance still works.
    pub instance_usable: Option<bool>,
    /// After a failed update: whether the update may be repeated.
    pub update_repeatable: Option<bool>,
}

/// The provisioning domain: decisions, waiting, and views.
#[derive(Clone)]
pub struct Provisioning {
    db: Db,
    catalog: CatalogHandle,
    jobs: Jobs,
    sealer: Sealer,
    sync_timeout: Duration,
}

/// A decision taken inside the transaction.
enum Decision<T> {
    /// A new operation was written, leased with this token; start it.
    Started(String, String),
    /// The same operation is already running.
    Running(String),
    /// Nothing to do; here is the answer.
    Ready(T),
}

/// Checks an OSB id: 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
pub fn validate_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::BadRequest(format!("{what} must not be empty")));
    }
    // Ids end up in URL paths (federated brokers, partners): `.` and `..` alone would climb.
    let ok = id.len() <= MAX_ID_LEN
        && !id.bytes().all(|b| b == b'.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(Error::BadRequest(format!(
            "{what} {} is invalid: use 1 to {MAX_ID_LEN} characters of A-Z a-z 0-9 . _ -",
            clip(id)
        )));
    }
    Ok(())
}

fn to_json(value: &Value) -> String {
    value.to_string()
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A new operation row, already leased to the runner of the request that writes it, which runs
/// it at once; if that broker dies first, the lease lapses and any worker takes it over.
fn new_operation(
    kind: &str,
    instance_id: &str,
    binding_id: Option<&str>,
    request: String,
    (owner, until): (String, i64),
    now: i64,
) -> Operation {
    Operation {
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.to_string(),
        instance_id: instance_id.to_string(),
        binding_id: binding_id.map(str::to_string),
        state: op_state::IN_PROGRESS.to_string(),
        description: None,
        request,
        poll_token: None,
        attempts: 1,
        due_at: now,
        lease_owner: Some(owner),
        lease_expires_at: Some(until),
        created_at: now,
        updated_at: now,
        finished_at: None,
    }
}

/// Appends an audit entry inside the caller's transaction.
pub fn audit(conn: &mut DbConnection, meta: &RequestMeta, action: &str, target: String, detail: Value) -> Result<()> {
    AuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        at: now_ms(),
        request_id: meta.request_id.clone(),
        actor: meta.actor.clone(),
        action: action.to_string(),
        target,
        detail: detail.to_string(),
    }
    .insert(conn)
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

impl Provisioning {
    /// The domain over a state store, catalog and job runner.
    pub fn new(db: Db, catalog: CatalogHandle, jobs: Jobs, sealer: Sealer, sync_timeout: Duration) -> Self {
        Provisioning {
            db,
            catalog,
            jobs,
            sealer,
            sync_timeout,
        }
    }

    /// The catalog now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.current()
    }

    /// The handle that swaps catalogs.
    pub fn catalog_handle(&self) -> &CatalogHandle {
        &self.catalog
    }

    /// The state store.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The job runner.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The sealer of secrets at rest.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Turns a decision into a reply: starts or waits for the operation as the request allows.
    async fn settle<T>(
        &self,
        decision: Decision<T>,
        accepts_incomplete: bool,
        prefer_wait: Option<Duration>,
        finished: impl FnOnce(&Self, bool) -> futures::future::BoxFuture<'_, Result<T>>,
    ) -> Result<Reply<T>> {
        let (op, started) = match decision {
            Decision::Ready(value) => return Ok(Reply::Exists(value)),
            Decision::Started(op, token) => (op, Some(token)),
            Decision::Running(op) => (op, None),
        };
        let local = started.as_ref().map(|token| self.jobs.run_claimed(&op, token));
        let started = started.is_some();
        let (timeout, accept_on_timeout) = match (accepts_incomplete, prefer_wait) {
            (true, None) => return Ok(Reply::Accepted(op)),
            (true, Some(wait)) => (wait, true),
            (false, _) => (self.sync_timeout, false),
        };
        let deadline = tokio::time::Instant::now() + timeout;
        // The run this request started reports its end directly; an operation started by an
        // earlier request (or that goes on after this run) is followed through the store.
        let done = match local {
            Some(rx) => match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Some(done))) => Some(done),
                Ok(_) => {
                    self.jobs
                        .wait(&op, deadline.saturating_duration_since(tokio::time::Instant::now()))
                        .await?
                }
                Err(_) => None,
            },
            None => self.jobs.wait(&op, timeout).await?,
        };
        match done {
            Some(done) if done.state == op_state::SUCCEEDED => {
                let value = finished(self, started).await?;
                Ok(if started { Reply::Created(value) } else { Reply::Exists(value) })
            }
            Some(done) => Err(Error::Backend(format!(
                "operation {} failed: {}",
                done.id,
                done.description.unwrap_or_else(|| "no description".into())
            ))),
            None if accept_on_timeout => Ok(Reply::Accepted(op)),
            None => Err(Error::AsyncRequired(format!(
                "operation {op} did not finish within {} ms; retry with accepts_incomplete=true and poll last_operation",
                self.sync_timeout.as_millis()
            ))),
        }
    }

    /// Provisions an instance (OSB `PUT /v2/service_instances/:id`).
    pub async fn provision(&self, input: ProvisionInput, meta: RequestMeta) -> Result<Reply<Option<String>>> {
        validate_id("instance_id", &input.instance_id)?;
        let catalog = self.catalog.current();
        let (_, plan) = catalog.resolve_offered(&input.service_id, &input.plan_id)?;
        check_maintenance(&input.maintenance_version, plan)?;
        catalog.validate(plan, SchemaKind::InstanceCreate, &input.parameters)?;
        let maintenance = plan.maintenance_info.version.clone();
        let accepts_incomplete = input.accepts_incomplete;
        let prefer_wait = input.prefer_wait;
        let id = input.instance_id.clone();
        let jobs = self.jobs.clone();
        let decision = self
            .db
            .write(move |c| {
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
                        let op = Operation::find(c, op_id)?;
                        return match op {
                            Some(op) if op.kind == "provision" => Ok(Decision::Running(op.id)),
                            _ => Err(Error::ConcurrencyError(format!(
                                "another operation is in progress on instance {}",
                                input.instance_id
                            ))),
                        };
                    }
                    if inst.state == instance_state::PROVISIONED {
                        return Ok(Decision::Ready(inst.dashboard_url.clone()));
                    }
                }
                let lease = jobs.lease_from(now);
                let op = new_operation("provision", &input.instance_id, None, "{}".into(), lease.clone(), now);
                let row = Instance {
                    id: input.instance_id.clone(),
                    service_id: input.service_id.clone(),
                    plan_id: input.plan_id.clone(),
                    parameters: to_json(&input.parameters),
                    context: to_json(&input.context),
                    organization_guid: input.organization_guid.clone(),
                    space_guid: input.space_guid.clone(),
                    maintenance_version: Some(maintenance.clone()),
                    dashboard_url: None,
                    state: instance_state::PROVISIONING.into(),
                    active_operation_id: Some(op.id.clone()),
                    last_operation_id: Some(op.id.clone()),
                    created_at: existing.as_ref().map_or(now, |i| i.created_at),
                    updated_at: now,
                };
                if existing.is_some() {
                    row.save(c)?;
                } else {
                    row.insert(c)?;
                }
                op.insert(c)?;
                audit(
                    c,
                    &meta,
                    "osb.provision",
                    format!("instance/{}", input.instance_id),
                    serde_json::json!({ "operation": op.id, "service_id": input.service_id, "plan_id": input.plan_id }),
                )?;
                Ok(Decision::Started(op.id, lease.0))
            })
            .await?;
        self.settle(decision, accepts_incomplete, prefer_wait, move |this, _| {
            Box::pin(async move {
                let inst = this.db.run(move |c| Instance::find(c, &id)).await?;
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
            .write(move |c| {
                let now = now_ms();
                let inst = Instance::find(c, &input.instance_id)?
                    .filter(Instance::is_live)
                    .ok_or_else(|| Error::NotFound(format!("instance {} does not exist", input.instance_id)))?;
                if inst.service_id != input.service_id {
                    return Err(Error::BadRequest(format!(
                        "service_id {} is not the service of instance {}",
                        clip(&input.service_id),
                        input.instance_id
                    )));
                }
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
                let plan = UpdatePlan {
                    plan_id: to_plan.id.clone(),
                    parameters: merged.clone(),
                    context: input.context.clone().unwrap_or_else(|| parse_json(&inst.context)),
                    maintenance_version: to_plan.maintenance_info.version.clone(),
                };
                let request = serde_json::to_string(&plan).map_err(|e| Error::Internal(e.to_string()))?;
                if let Some(op_id) = &inst.active_operation_id {
                    return match Operation::find(c, op_id)? {
                        Some(op) if op.kind == "update" && op.request == request => Ok(Decision::Running(op.id)),
                        _ => Err(Error::ConcurrencyError(format!(
                            "another operation is in progress on instance {}",
                            input.instance_id
                        ))),
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
                let op = new_operation("update", &inst.id, None, request, lease.clone(), now);
                let mut inst = inst;
                inst.active_operation_id = Some(op.id.clone());
                inst.last_operation_id = Some(op.id.clone());
                inst.updated_at = now;
                inst.save(c)?;
                op.insert(c)?;
                audit(
                    c,
                    &meta,
                    "osb.update",
                    format!("instance/{}", inst.id),
                    serde_json::json!({ "operation": op.id, "plan_id": plan.plan_id }),
                )?;
                Ok(Decision::Started(op.id, lease.0))
            })
            .await?;
        let reply = self
            .settle(decision, accepts_incomplete, None, |_, _| Box::pin(async { Ok(()) }))
            .await?;
        // An update answers 200 whether it ran now or had already run.
        Ok(match reply {
            Reply::Exists(()) => Reply::Created(()),
            other => other,
        })
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
        let decision = self
            .db
            .write(move |c| {
                let now = now_ms();
                let inst = Instance::find(c, &instance_id)?
                    .filter(Instance::is_live)
                    .ok_or_else(|| Error::Gone(format!("instance {instance_id} does not exist")))?;
                if let Some(op_id) = &inst.active_operation_id {
                    return match Operation::find(c, op_id)? {
                        Some(op) if op.kind == "deprovision" => Ok(Decision::Running(op.id)),
                        _ => Err(Error::ConcurrencyError(format!(
                            "another operation is in progress on instance {instance_id}"
                        ))),
                    };
                }
                if Binding::any_in_progress(c, &inst.id)? {
                    return Err(Error::ConcurrencyError(format!(
                        "a binding operation is in progress on instance {instance_id}"
                    )));
                }
                let lease = jobs.lease_from(now);
                let op = new_operation("deprovision", &inst.id, None, "{}".into(), lease.clone(), now);
                let mut inst = inst;
                inst.active_operation_id = Some(op.id.clone());
                inst.last_operation_id = Some(op.id.clone());
                inst.updated_at = now;
                inst.save(c)?;
                op.insert(c)?;
                audit(
                    c,
                    &meta,
                    "osb.deprovision",
                    format!("instance/{}", inst.id),
                    serde_json::json!({ "operation": op.id }),
                )?;
                Ok(Decision::Started(op.id, lease.0))
            })
            .await?;
        let reply = self
            .settle(decision, accepts_incomplete, None, |_, _| Box::pin(async { Ok(()) }))
            .await?;
        Ok(match reply {
            Reply::Exists(()) => Reply::Created(()),
            other => other,
        })
    }

    /// The instance as the platform sees it (OSB `GET`); 404 unless provisioned.
    pub async fn get_instance(&self, instance_id: String) -> Result<InstanceView> {
        validate_id("instance_id", &instance_id)?;
        let inst = self.db.run(move |c| Instance::find(c, &instance_id)).await?;
        match inst {
            Some(i) if i.state == instance_state::PROVISIONED && i.active_operation_id.is_some() => {
                Err(Error::ConcurrencyError(format!("instance {} is being changed", i.id)))
            }
            Some(i) if i.state == instance_state::PROVISIONED => Ok(InstanceView {
                service_id: i.service_id,
                plan_id: i.plan_id,
                dashboard_url: i.dashboard_url,
                parameters: parse_json(&i.parameters),
                maintenance_version: i.maintenance_version,
            }),
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
        Ok(describe(&op, inst.state == instance_state::PROVISIONED))
    }

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
            .write(move |c| {
                let now = now_ms();
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
                let existing = Binding::find_any(c, &input.binding_id)?;
                if let Some(b) = existing.as_ref().filter(|b| b.state != binding_state::UNBOUND) {
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
                        return match Operation::find(c, op_id)? {
                            Some(op) if op.kind == "bind" => Ok(Decision::Running(op.id)),
                            _ => Err(Error::ConcurrencyError(format!(
                                "binding {} is being removed",
                                input.binding_id
                            ))),
                        };
                    }
                    if b.state == binding_state::BOUND {
                        return Ok(Decision::Ready(open_binding(&sealer, b)?));
                    }
                } else if let Some(b) = existing.as_ref().filter(|b| b.instance_id != input.instance_id) {
                    return Err(Error::Conflict(format!(
                        "binding id {} was used for another instance",
                        b.id
                    )));
                }
                let lease = jobs.lease_from(now);
                let op = new_operation(
                    "bind",
                    &inst.id,
                    Some(&input.binding_id),
                    "{}".into(),
                    lease.clone(),
                    now,
                );
                let row = Binding {
                    id: input.binding_id.clone(),
                    instance_id: inst.id.clone(),
                    service_id: input.service_id.clone(),
                    plan_id: input.plan_id.clone(),
                    parameters: to_json(&input.parameters),
                    context: to_json(&input.context),
                    bind_resource: to_json(&input.bind_resource),
                    credentials: None,
                    state: binding_state::BINDING.into(),
                    active_operation_id: Some(op.id.clone()),
                    last_operation_id: Some(op.id.clone()),
                    created_at: existing.as_ref().map_or(now, |b| b.created_at),
                    updated_at: now,
                };
                if existing.is_some() {
                    row.save(c)?;
                } else {
                    row.insert(c)?;
                }
                op.insert(c)?;
                audit(
                    c,
                    &meta,
                    "osb.bind",
                    format!("binding/{}", input.binding_id),
                    serde_json::json!({ "operation": op.id, "instance_id": inst.id }),
                )?;
                Ok(Decision::Started(op.id, lease.0))
            })
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
        let decision = self
            .db
            .write(move |c| {
                let now = now_ms();
                let b = Binding::find(c, &instance_id, &binding_id)?
                    .filter(|b| b.state != binding_state::UNBOUND)
                    .ok_or_else(|| Error::Gone(format!("binding {binding_id} does not exist")))?;
                if let Some(op_id) = &b.active_operation_id {
                    return match Operation::find(c, op_id)? {
                        Some(op) if op.kind == "unbind" => Ok(Decision::Running(op.id)),
                        _ => Err(Error::ConcurrencyError(format!(
                            "binding {binding_id} is being created"
                        ))),
                    };
                }
                let inst_busy = Instance::find(c, &instance_id)?.is_some_and(|i| i.active_operation_id.is_some());
                if inst_busy {
                    return Err(Error::ConcurrencyError(format!(
                        "an operation is in progress on instance {instance_id}"
                    )));
                }
                let lease = jobs.lease_from(now);
                let op = new_operation(
                    "unbind",
                    &instance_id,
                    Some(&binding_id),
                    "{}".into(),
                    lease.clone(),
                    now,
                );
                let mut b = b;
                b.active_operation_id = Some(op.id.clone());
                b.last_operation_id = Some(op.id.clone());
                b.updated_at = now;
                b.save(c)?;
                op.insert(c)?;
                audit(
                    c,
                    &meta,
                    "osb.unbind",
                    format!("binding/{binding_id}"),
                    serde_json::json!({ "operation": op.id, "instance_id": instance_id }),
                )?;
                Ok(Decision::Started(op.id, lease.0))
            })
            .await?;
        let reply = self
            .settle(decision, accepts_incomplete, None, |_, _| Box::pin(async { Ok(()) }))
            .await?;
        Ok(match reply {
            Reply::Exists(()) => Reply::Created(()),
            other => other,
        })
    }

    /// A bound binding's credentials (OSB `GET …/service_bindings/:id`); 404 otherwise.
    pub async fn get_binding(&self, instance_id: String, binding_id: String) -> Result<BindingView> {
        validate_id("instance_id", &instance_id)?;
        validate_id("binding_id", &binding_id)?;
        let sealer = self.sealer.clone();
        self.db
            .run(move |c| match Binding::find(c, &instance_id, &binding_id)? {
                Some(b) if b.state == binding_state::BOUND => open_binding(&sealer, &b),
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
        Ok(describe(&op, true))
    }
}

fn open_binding(sealer: &Sealer, b: &Binding) -> Result<BindingView> {
    let sealed = b
        .credentials
        .as_ref()
        .ok_or_else(|| Error::Internal(format!("binding {} has no stored credentials", b.id)))?;
    let plain = sealer.open(sealed, &format!("binding/{}", b.id))?;
    let creds: providers::Credentials =
        serde_json::from_slice(&plain).map_err(|e| Error::Internal(format!("stored credentials: {e}")))?;
    Ok(BindingView {
        credentials: creds.values,
        env: creds.env,
        parameters: parse_json(&b.parameters),
    })
}

fn describe(op: &Operation, instance_usable: bool) -> LastOperation {
    let state = match op.state.as_str() {
        op_state::SUCCEEDED => "succeeded",
        op_state::FAILED => "failed",
        _ => "in progress",
    };
    let failed_update = op.state == op_state::FAILED && op.kind == "update";
    let failed_deprovision = op.state == op_state::FAILED && op.kind == "deprovision";
    LastOperation {
        state,
        description: op.description.clone(),
        instance_usable: (failed_update || failed_deprovision).then_some(instance_usable),
        update_repeatable: failed_update.then_some(true),
    }
}

/// A topic as the broker reports it.
pub type TopicView = providers::TopicInfo;

impl Provisioning {
    /// Resolves a live, provisioned instance whose service manages topics.
    async fn topic_admin(
        &self,
        instance_id: &str,
    ) -> Result<(Arc<dyn providers::Provider>, providers::PlanDef, Instance)> {
        validate_id("instance_id", instance_id)?;
        let id = instance_id.to_string();
        let inst = self
            .db
            .run(move |c| Instance::find(c, &id))
            .await?
            .filter(Instance::is_live)
            .ok_or_else(|| Error::NotFound(format!("instance {instance_id} does not exist")))?;
        let catalog = self.catalog.current();
        let (provider, plan) = catalog.resolve(&inst.service_id, &inst.plan_id)?;
        if provider.topics().is_none() {
            return Err(Error::BadRequest(format!(
                "service {} has no topics",
                provider.service().name
            )));
        }
        if inst.state != instance_state::PROVISIONED || inst.active_operation_id.is_some() {
            return Err(Error::ConcurrencyError(format!(
                "instance {instance_id} is not provisioned or has an operation in progress"
            )));
        }
        Ok((provider.clone(), plan.clone(), inst))
    }

    /// Creates a topic of an instance; `Created` when new, `Exists` when an identical one was
    /// there, 409 when one with another spec was.
    pub async fn put_topic(
        &self,
        instance_id: String,
        name: String,
        partitions: Option<i32>,
        retention_ms: Option<i64>,
        meta: RequestMeta,
    ) -> Result<Reply<TopicView>> {
        let (provider, plan, inst) = self.topic_admin(&instance_id).await?;
        let admin = provider
            .topics()
            .ok_or_else(|| Error::Internal("topics vanished".into()))?;
        let spec = admin
            .check_topic(&inst.id, &plan, &name, partitions, retention_ms)
            .map_err(|m| Error::BadRequest(clip(&m)))?;
        let (info, created) = admin.create_topic(&name, spec).await.map_err(provider_error)?;
        // A deprovision that began meanwhile has listed the prefix's topics already: take the
        // new topic back rather than leave it behind a dead prefix.
        let id = inst.id.clone();
        let still = self.db.run(move |c| Instance::find(c, &id)).await?;
        let usable = still.is_some_and(|i| i.state == instance_state::PROVISIONED && i.active_operation_id.is_none());
        if !usable {
            if created {
                admin.delete_topic(&name).await.map_err(provider_error)?;
            }
            return Err(Error::ConcurrencyError(format!(
                "instance {} is changing; try again",
                inst.id
            )));
        }
        if !created {
            let same = info.partitions == spec.partitions && info.retention_ms.is_none_or(|r| r == spec.retention_ms);
            if !same {
                return Err(Error::Conflict(format!(
                    "topic {name} already exists with another spec"
                )));
            }
            return Ok(Reply::Exists(info));
        }
        let target = format!("instance/{}", inst.id);
        let detail =
            serde_json::json!({ "topic": name, "partitions": spec.partitions, "retention_ms": spec.retention_ms });
        self.db
            .write(move |c| audit(c, &meta, "osb.topic.create", target.clone(), detail.clone()))
            .await?;
        Ok(Reply::Created(info))
    }

    /// Deletes a topic of an instance; 410 when there is none.
    pub async fn delete_topic(&self, instance_id: String, name: String, meta: RequestMeta) -> Result<()> {
        let (provider, _, inst) = self.topic_admin(&instance_id).await?;
        let admin = provider
            .topics()
            .ok_or_else(|| Error::Internal("topics vanished".into()))?;
        if !admin.owns_topic(&inst.id, &name) {
            return Err(Error::BadRequest(clip(&format!(
                "topic {name} is not under this instance's prefix"
            ))));
        }
        if !admin.delete_topic(&name).await.map_err(provider_error)? {
            return Err(Error::Gone(clip(&format!("topic {name} does not exist"))));
        }
        let target = format!("instance/{}", inst.id);
        let detail = serde_json::json!({ "topic": name });
        self.db
            .write(move |c| audit(c, &meta, "osb.topic.delete", target.clone(), detail.clone()))
            .await?;
        Ok(())
    }

    /// Describes a topic of an instance.
    pub async fn get_topic(&self, instance_id: String, name: String) -> Result<TopicView> {
        let (provider, _, inst) = self.topic_admin(&instance_id).await?;
        let admin = provider
            .topics()
            .ok_or_else(|| Error::Internal("topics vanished".into()))?;
        if !admin.owns_topic(&inst.id, &name) {
            return Err(Error::NotFound(clip(&format!("topic {name} does not exist"))));
        }
        admin
            .get_topic(&name)
            .await
            .map_err(provider_error)?
            .ok_or_else(|| Error::NotFound(clip(&format!("topic {name} does not exist"))))
    }

    /// Lists an instance's topics.
    pub async fn list_topics(&self, instance_id: String) -> Result<Vec<TopicView>> {
        let (provider, _, inst) = self.topic_admin(&instance_id).await?;
        let admin = provider
            .topics()
            .ok_or_else(|| Error::Internal("topics vanished".into()))?;
        admin.list_topics(&inst.id).await.map_err(provider_error)
    }
}

fn provider_error(e: providers::ProviderError) -> Error {
    match e {
        providers::ProviderError::Invalid(m) => Error::BadRequest(m),
        other => Error::Backend(other.to_string()),
    }
}
