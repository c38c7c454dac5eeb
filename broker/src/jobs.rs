//! The operation journal's workers.
//!
//! An operation row is written (by [`crate::provisioning`]) before anything happens on a
//! backend. A worker then claims it with a lease (a compare-and-set on the row, so any number of
//! brokers may share one state store), renews the lease while the provider works, and records the
//! outcome in one transaction with the state change it implies. A broker that dies mid-operation
//! leaves an expired lease behind; whichever broker looks next claims the operation again and
//! the provider, idempotent per id, converges on what the first attempt left.

use std::sync::Arc;

use diesel::prelude::*;
use std::time::Duration;

use providers::{
    BindRequest, Credentials, DeprovisionRequest, OperationKind, Outcome, Polled, Provider, ProviderError,
    ProvisionRequest, UnbindRequest, UpdateRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, Notify, Semaphore};
use tracing::{info, warn};

use crate::catalog::CatalogHandle;
use crate::config::JobSettings;
use crate::crypto::Sealer;
use crate::db::models::{binding_state, instance_state, op_state, Binding, Instance, InstanceConfig, Operation};
use crate::db::{now_ms, Db};
use crate::error::{Error, Result};

/// What an update operation is to do (stored in the operation's `request`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdatePlan {
    /// Target plan id.
    pub plan_id: String,
    /// The parameters after the update.
    pub parameters: Value,
    /// The context after the update.
    pub context: Value,
    /// Maintenance version after the update.
    pub maintenance_version: String,
}

/// What a finished provider call changes in the broker's state.
enum Effect {
    Provisioned(providers::Provisioned),
    Updated(UpdatePlan),
    Deprovisioned,
    Bound(providers::Credentials),
    Unbound,
}

/// Handle on the job runner. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    catalog: CatalogHandle,
    sealer: Sealer,
    settings: JobSettings,
    owner: String,
    finished: broadcast::Sender<String>,
    wake: Notify,
    slots: Arc<Semaphore>,
}

impl Jobs {
    /// A runner whose leases carry a fresh owner id.
    pub fn new(db: Db, catalog: CatalogHandle, sealer: Sealer, settings: JobSettings) -> Jobs {
        let (finished, _) = broadcast::channel(1024);
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Jobs {
            inner: Arc::new(Inner {
                db,
                catalog,
                sealer,
                settings,
                owner: format!("broker-{}", uuid::Uuid::new_v4()),
                finished,
                wake: Notify::new(),
                slots,
            }),
        }
    }

    /// A fresh lease from `now`: a token naming this runner and this one run, and the expiry.
    /// Each run has its own token, so two runs of one operation in one broker (a lease that
    /// lapsed while a run waited for a slot) can never both believe they hold it.
    pub fn lease_from(&self, now: i64) -> (String, i64) {
        (
            format!("{}/{}", self.inner.owner, uuid::Uuid::new_v4()),
            now + self.inner.settings.lease_ms as i64,
        )
    }

    /// Runs an operation this runner already holds the lease of (written with
    /// [`Jobs::lease_from`]), in the background. The receiver gets the operation's final row
    /// when it finished in this run, or `None` when it goes on (a provider poll, a retry).
    pub fn run_claimed(&self, op_id: &str, token: &str) -> tokio::sync::oneshot::Receiver<Option<Operation>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let (op_id, token) = (op_id.to_string(), token.to_string());
        tokio::spawn(async move {
            let Ok(_permit) = this.inner.slots.clone().acquire_owned().await else {
                return;
            };
            // The lease may have lapsed while this run waited for a slot; then another runner
            // owns the operation (or will), and this run must not touch the backend.
            let lease = this.inner.settings.lease_ms as i64;
            let (id, tok) = (op_id.clone(), token.clone());
            let still_ours = this
                .inner
                .db
                .write(move |c| Operation::renew(c, &id, &tok, now_ms(), now_ms() + lease))
                .await;
            if !matches!(still_ours, Ok(true)) {
                let _ = tx.send(None);
                return;
            }
            match this.execute_claimed(&op_id, token).await {
                Ok(done) => {
                    let _ = tx.send(done);
                }
                Err(e) => {
                    warn!(operation = %op_id, error = %e, "operation run failed; it will be retried");
                    let _ = tx.send(None);
                }
            }
        });
        rx
    }

    /// Runs an operation now, in the background, if it can be claimed.
    pub fn start(&self, op_id: &str) {
        let this = self.clone();
        let op_id = op_id.to_string();
        tokio::spawn(async move {
            let Ok(_permit) = this.inner.slots.clone().acquire_owned().await else {
                return;
            };
            if let Err(e) = this.execute(&op_id).await {
                warn!(operation = %op_id, error = %e, "operation run failed; it will be retried");
            }
        });
    }

    /// Looks for due operations until `shutdown` resolves: the resume path after a crash, the
    /// retry path after transient failures, and the poll path for pending provider work.
    pub async fn run_workers(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let interval = Duration::from_millis(self.inner.settings.poll_interval_ms.max(10));
        loop {
            match self.inner.db.run(|c| Operation::due(c, now_ms(), 64)).await {
                Ok(due) => {
                    for id in due {
                        self.start(&id);
                    }
                }
                Err(e) => warn!(error = %e, "looking for due operations failed"),
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
    }

    /// Finishes an operation that a provider reported done through a callback (an asynchronous
    /// provision or deprovision), whoever holds its lease: a runner that polls it meanwhile
    /// finds it finished and records nothing. Returns the final row; `None` when the operation
    /// had already left `in progress`.
    pub async fn complete_from_callback(&self, op_id: &str) -> Result<Option<Operation>> {
        let id = op_id.to_string();
        let done = self
            .inner
            .db
            .write(move |c| {
                let now = now_ms();
                let Some(mut op) = Operation::find(c, &id)? else {
                    return Ok(None);
                };
                if op.state != op_state::IN_PROGRESS {
                    return Ok(None);
                }
                // A callback after the deadline is too late even before the poll that fails the
                // operation (and sends the deprovision) has run.
                let deadline = op
                    .poll_token
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                    .and_then(|t| t.get("deadline").and_then(serde_json::Value::as_i64));
                if deadline.is_some_and(|d| now >= d) {
                    return Ok(None);
                }
                let effect = match op.kind.as_str() {
                    "provision" => Effect::Provisioned(Default::default()),
                    "deprovision" => Effect::Deprovisioned,
                    other => return Err(Error::Internal(format!("a callback cannot finish a {other}"))),
                };
                op.lease_owner = None;
                op.lease_expires_at = None;
                op.updated_at = now;
                op.state = op_state::SUCCEEDED.into();
                op.description = Some(format!("{} succeeded (reported by the provider)", op.kind));
                op.finished_at = Some(now);
                apply_success(c, &op, Some(&effect), None, now)?;
                op.save(c)?;
                Ok(Some(op))
            })
            .await?;
        if let Some(op) = &done {
            info!(operation = %op.id, kind = %op.kind, "operation finished by a provider callback");
            let _ = self.inner.finished.send(op.id.clone());
        }
        Ok(done)
    }

    /// Waits until an operation leaves `in progress` or `timeout` passes; `None` on timeout.
    pub async fn wait(&self, op_id: &str, timeout: Duration) -> Result<Option<Operation>> {
        let mut finished = self.inner.finished.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let id = op_id.to_string();
            let op = self.inner.db.run(move |c| Operation::find(c, &id)).await?;
            match op {
                Some(op) if op.state != op_state::IN_PROGRESS => return Ok(Some(op)),
                None => return Err(Error::Internal(format!("operation {op_id} vanished"))),
                Some(_) => {}
            }
            // Wake on this broker's own completions at once; poll the store for other brokers'.
            let until_next = tokio::time::sleep(Duration::from_millis(250));
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
                _ = until_next => {}
                msg = finished.recv() => {
                    if let Ok(id) = msg {
                        if id != op_id {
                            continue;
                        }
                    }
                }
            }
        }
    }

    async fn execute(&self, op_id: &str) -> Result<()> {
        let (token, _) = self.lease_from(now_ms());
        let lease = self.inner.settings.lease_ms as i64;
        let (id, tok) = (op_id.to_string(), token.clone());
        let claimed = self
            .inner
            .db
            .write(move |c| {
                let now = now_ms();
                Operation::claim(c, &id, &tok, now, now + lease)
            })
            .await?;
        if claimed {
            self.execute_claimed(op_id, token).await?;
        }
        Ok(())
    }

    /// Runs an operation whose lease this runner holds; returns its final row if it finished.
    async fn execute_claimed(&self, op_id: &str, token: String) -> Result<Option<Operation>> {
        let inner = &self.inner;
        let lease = inner.settings.lease_ms as i64;
        let id = op_id.to_string();
        let (op, inst, binding, config) = inner
            .db
            .run(move |c| {
                let op = Operation::find(c, &id)?.ok_or_else(|| Error::Internal(format!("operation {id} vanished")))?;
                let inst = Instance::find(c, &op.instance_id)?;
                let binding = match &op.binding_id {
                    Some(b) => Binding::find(c, &op.instance_id, b)?,
                    None => None,
                };
                let config = InstanceConfig::find(c, &op.instance_id)?;
                Ok((op, inst, binding, config))
            })
            .await?;
        let config = match config {
            Some(row) => Some(crate::crypto::open_instance_config(&inner.sealer, &row)?),
            None => None,
        };
        info!(operation = %op.id, kind = %op.kind, instance = %op.instance_id, attempt = op.attempts, "running operation");

        let heartbeat = {
            let db = inner.db.clone();
            let (id, token) = (op.id.clone(), token.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis((lease / 3).max(100) as u64)).await;
                    let (id, token) = (id.clone(), token.clone());
                    // Through the writer, like every write (SQLite has one); a failed renewal is
                    // retried at the next beat, a lost lease ends the beating.
                    let renewed = db
                        .write(move |c| Operation::renew(c, &id, &token, now_ms(), now_ms() + lease))
                        .await;
                    if matches!(renewed, Ok(false)) {
                        return;
                    }
                }
            })
        };
        let limit = Duration::from_millis(inner.settings.provider_timeout_ms.max(1));
        let result = match inst {
            Some(inst) => tokio::time::timeout(limit, self.call_provider(&op, &inst, binding.as_ref(), config))
                .await
                .unwrap_or_else(|_| {
                    Err(ProviderError::Transient(format!(
                        "the provider did not answer within {} ms",
                        limit.as_millis()
                    )))
                }),
            None => Err(ProviderError::Failed(format!(
                "instance {} is missing from the state store",
                op.instance_id
            ))),
        };
        heartbeat.abort();
        self.record(op, result, token).await
    }

    async fn call_provider(
        &self,
        op: &Operation,
        inst: &Instance,
        binding: Option<&Binding>,
        instance_config: Option<Credentials>,
    ) -> Result<Outcome<Effect>, ProviderError> {
        let catalog = self.inner.catalog.current();
        let kind = OperationKind::parse(&op.kind)
            .ok_or_else(|| ProviderError::Failed(format!("unknown operation kind {}", op.kind)))?;
        let provider: &Arc<dyn Provider> = catalog
            .provider(&inst.service_id)
            .ok_or_else(|| ProviderError::Failed(format!("service {} is no longer configured", inst.service_id)))?;
        let plan_of = |id: &str| {
            catalog
                .resolve(&inst.service_id, id)
                .map(|(_, p)| p.clone())
                .map_err(|e| ProviderError::Failed(e.to_string()))
        };
        let plan = plan_of(&inst.plan_id)?;
        let parameters: serde_json::Value = serde_json::from_str(&inst.parameters).unwrap_or_default();
        let binding_id = || {
            binding
                .map(|b| b.id.clone())
                .ok_or_else(|| ProviderError::Failed("binding is missing from the state store".into()))
        };
        let update_plan = || -> Result<UpdatePlan, ProviderError> {
            serde_json::from_str(&op.request).map_err(|e| ProviderError::Failed(format!("update request: {e}")))
        };

        if let Some(token) = &op.poll_token {
            return Ok(match provider.poll(kind, token).await? {
                Outcome::Pending(t) => Outcome::Pending(t),
                Outcome::Done(polled) => Outcome::Done(match (kind, polled) {
                    (OperationKind::Provision, Polled::Provisioned(p)) => Effect::Provisioned(p),
                    (OperationKind::Provision, _) => Effect::Provisioned(Default::default()),
                    (OperationKind::Update, _) => Effect::Updated(update_plan()?),
                    (OperationKind::Deprovision, _) => Effect::Deprovisioned,
                    (OperationKind::Bind, Polled::Bound(c)) => Effect::Bound(c),
                    (OperationKind::Bind, Polled::Finished | Polled::Provisioned(_)) => {
                        return Err(ProviderError::Failed("bind finished without credentials".into()))
                    }
                    (OperationKind::Unbind, _) => Effect::Unbound,
                }),
            });
        }

        let outcome = match kind {
            OperationKind::Provision => provider
                .provision(&ProvisionRequest {
                    instance_id: inst.id.clone(),
                    plan,
                    parameters,
                    context: serde_json::from_str(&inst.context).unwrap_or_default(),
                })
                .await?
                .map_done(Effect::Provisioned),
            OperationKind::Update => {
                let target = update_plan()?;
                let request = UpdateRequest {
                    instance_id: inst.id.clone(),
                    from_plan: plan,
                    to_plan: plan_of(&target.plan_id)?,
                    parameters: target.parameters.clone(),
                };
                provider.update(&request).await?.map_done(|()| Effect::Updated(target))
            }
            OperationKind::Deprovision => provider
                .deprovision(&DeprovisionRequest {
                    instance_id: inst.id.clone(),
                    plan,
                })
                .await?
                .map_done(|()| Effect::Deprovisioned),
            OperationKind::Bind => {
                let request = BindRequest {
                    instance_id: inst.id.clone(),
                    binding_id: binding_id()?,
                    plan,
                    instance_parameters: parameters,
                    parameters: binding
                        .and_then(|b| serde_json::from_str(&b.parameters).ok())
                        .unwrap_or_default(),
                    instance_config,
                };
                provider.bind(&request).await?.map_done(Effect::Bound)
            }
            OperationKind::Unbind => provider
                .unbind(&UnbindRequest {
                    instance_id: inst.id.clone(),
                    binding_id: binding_id()?,
                    plan,
                })
                .await?
                .map_done(|()| Effect::Unbound),
        };
        Ok(outcome)
    }

    /// Writes the outcome and the state change it implies, if this runner still holds the lease;
    /// returns the operation's final row when it finished.
    async fn record(
        &self,
        op: Operation,
        result: Result<Outcome<Effect>, ProviderError>,
        owner: String,
    ) -> Result<Option<Operation>> {
        let inner = &self.inner;
        let max_attempts = inner.settings.max_attempts;
        let poll_interval = inner.settings.poll_interval_ms as i64;
        let sealer = inner.sealer.clone();
        let op_id = op.id.clone();
        let kind = op.kind.clone();
        // Sealing happens outside the transaction closure, which may run more than once.
        let sealed = match &result {
            Ok(Outcome::Done(Effect::Bound(creds))) => {
                let plain = serde_json::to_vec(creds).map_err(|e| Error::Internal(e.to_string()))?;
                let binding = op.binding_id.clone().unwrap_or_default();
                Some(sealer.seal(&plain, &format!("binding/{binding}"))?)
            }
            Ok(Outcome::Done(Effect::Provisioned(providers::Provisioned {
                config: Some(config), ..
            }))) => Some(crate::crypto::seal_instance_config(&sealer, &op.instance_id, config)?),
            _ => None,
        };
        let summary = match &result {
            Ok(Outcome::Done(_)) => Ok(None),
            Ok(Outcome::Pending(token)) => Ok(Some(token.clone())),
            Err(e) => Err((e.is_transient(), e.to_string())),
        };
        let effect = result.ok().and_then(|o| match o {
            Outcome::Done(e) => Some(e),
            Outcome::Pending(_) => None,
        });
        let effect = Arc::new(effect);
        let finished = inner
            .db
            .write(move |c| {
                let now = now_ms();
                let Some(mut op) = Operation::find(c, &op_id)? else {
                    return Ok(None);
                };
                if op.state != op_state::IN_PROGRESS || op.lease_owner.as_deref() != Some(owner.as_str()) {
                    // Another runner took over after our lease lapsed; its outcome stands.
                    return Ok(None);
                }
                op.lease_owner = None;
                op.lease_expires_at = None;
                op.updated_at = now;
                match &summary {
                    Ok(Some(token)) => {
                        op.poll_token = Some(token.clone());
                        op.due_at = now + poll_interval;
                        op.description = Some("waiting for the provider".into());
                        op.save(c)?;
                        return Ok(None);
                    }
                    Err((true, message)) if op.attempts < max_attempts => {
                        let backoff = (200i64 << op.attempts.min(8)).min(30_000);
                        op.due_at = now + backoff;
                        op.description = Some(format!("retrying (attempt {}): {message}", op.attempts));
                        op.save(c)?;
                        return Ok(None);
                    }
                    Err((_, message)) => {
                        op.state = op_state::FAILED.into();
                        op.description = Some(message.clone());
                        op.finished_at = Some(now);
                        apply_failure(c, &op, now)?;
                    }
                    Ok(None) => {
                        op.state = op_state::SUCCEEDED.into();
                        op.description = Some(format!("{} succeeded", op.kind));
                        op.finished_at = Some(now);
                        apply_success(c, &op, effect.as_ref().as_ref(), sealed.clone(), now)?;
                    }
                }
                op.save(c)?;
                Ok(Some(op))
            })
            .await?;
        match &finished {
            Some(done) => {
                info!(operation = %done.id, kind = %kind, state = %done.state, "operation finished");
                let _ = inner.finished.send(done.id.clone());
            }
            None => inner.wake.notify_one(),
        }
        Ok(finished)
    }
}

trait MapDone<T> {
    fn map_done<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U>;
}

impl<T> MapDone<T> for Outcome<T> {
    fn map_done<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Done(v) => Outcome::Done(f(v)),
            Outcome::Pending(t) => Outcome::Pending(t),
        }
    }
}

fn apply_success(
    c: &mut crate::db::DbConnection,
    op: &Operation,
    effect: Option<&Effect>,
    sealed: Option<Vec<u8>>,
    now: i64,
) -> Result<()> {
    if let Some(binding_id) = &op.binding_id {
        let Some(mut b) = Binding::find(c, &op.instance_id, binding_id)? else {
            return Ok(());
        };
        b.active_operation_id = None;
        b.updated_at = now;
        match effect {
            Some(Effect::Bound(_)) => {
                b.state = binding_state::BOUND.into();
                b.credentials = sealed;
            }
            _ => {
                b.state = binding_state::UNBOUND.into();
                b.credentials = None;
            }
        }
        return b.save(c);
    }
    let Some(mut inst) = Instance::find(c, &op.instance_id)? else {
        return Ok(());
    };
    inst.active_operation_id = None;
    inst.updated_at = now;
    match effect {
        Some(Effect::Provisioned(provisioned)) => {
            inst.state = instance_state::PROVISIONED.into();
            inst.dashboard_url = provisioned.dashboard_url.clone();
            if let Some(config) = sealed {
                InstanceConfig {
                    instance_id: inst.id.clone(),
                    config,
                    updated_at: now,
                }
                .upsert(c)?;
            }
        }
        Some(Effect::Updated(plan)) => {
            inst.plan_id = plan.plan_id.clone();
            inst.parameters = plan.parameters.to_string();
            inst.context = plan.context.to_string();
            inst.maintenance_version = Some(plan.maintenance_version.clone());
        }
        Some(Effect::Deprovisioned) => {
            inst.state = instance_state::DEPROVISIONED.into();
            Binding::tombstone_all(c, &inst.id, now)?;
            // The provider-set config dies with the instance; no secret outlives it.
            {
                use crate::db::schema::instance_configs;
                diesel::delete(instance_configs::table.find(&inst.id)).execute(c)?;
            }
        }
        _ => {}
    }
    inst.save(c)
}

fn apply_failure(c: &mut crate::db::DbConnection, op: &Operation, now: i64) -> Result<()> {
    if let Some(binding_id) = &op.binding_id {
        let Some(mut b) = Binding::find(c, &op.instance_id, binding_id)? else {
            return Ok(());
        };
        b.active_operation_id = None;
        b.updated_at = now;
        if op.kind == "bind" {
            b.state = binding_state::FAILED.into();
        }
        return b.save(c);
    }
    let Some(mut inst) = Instance::find(c, &op.instance_id)? else {
        return Ok(());
    };
    inst.active_operation_id = None;
    inst.updated_at = now;
    if op.kind == "provision" {
        inst.state = instance_state::FAILED.into();
    }
    inst.save(c)
}
