//! The operation journal's workers.
//!
//! An operation row is written (by [`crate::provisioning`]) before anything happens on a
//! backend. A worker then claims it with a lease (a compare-and-set on the row, so any number of
//! brokers may share one state store), renews the lease while the provider works, and records the
//! outcome in one transaction with the state change it implies. A broker that dies mid-operation
//! leaves an expired lease behind; whichever broker looks next claims the operation again and
//! the provider, idempotent per id, converges on what the first attempt left.
//!
//! [`provider_call`] turns an operation row into the provider call it stands for; [`record`]
//! writes what came back.

mod provider_call;
mod record;

use std::sync::Arc;
use std::time::Duration;

use providers::ProviderError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, Notify, Semaphore};
use tracing::{info, warn};

use crate::catalog::CatalogHandle;
use crate::config::JobSettings;
use crate::crypto::Sealer;
use crate::db::models::{Binding, Instance, InstanceConfig, Operation};
use crate::db::{now_ms, Db};
use crate::error::{Error, Result};
use crate::ids::OperationId;
use crate::node::Node;

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

/// A lease on an operation: who holds it (this runner and this one run) and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The owner token written to the row's `lease_owner`.
    pub token: String,
    /// When the lease lapses (ms).
    pub until: i64,
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
    /// This run's lease owner (`node-{id}/{boot}`).
    owner: String,
    /// What every lease of this node starts with, whichever run took it.
    node_prefix: String,
    finished: broadcast::Sender<String>,
    wake: Notify,
    slots: Arc<Semaphore>,
}

impl Jobs {
    /// A runner whose leases name `node` and this run of it.
    pub fn new(db: Db, catalog: CatalogHandle, sealer: Sealer, settings: JobSettings, node: &Node) -> Jobs {
        let (finished, _) = broadcast::channel(1024);
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Jobs {
            inner: Arc::new(Inner {
                db,
                catalog,
                sealer,
                settings,
                owner: node.owner(),
                node_prefix: node.prefix(),
                finished,
                wake: Notify::new(),
                slots,
            }),
        }
    }

    /// A fresh lease from `now`: a token naming this runner and this one run, and the expiry.
    /// Each run has its own token, so two runs of one operation in one broker (a lease that
    /// lapsed while a run waited for a slot) can never both believe they hold it.
    pub fn lease_from(&self, now: i64) -> Lease {
        Lease {
            token: format!("{}/{}", self.inner.owner, uuid::Uuid::new_v4()),
            until: now + self.lease_ms(),
        }
    }

    fn lease_ms(&self) -> i64 {
        self.inner.settings.lease_ms as i64
    }

    /// Runs an operation this runner already holds the lease of (written with
    /// [`Jobs::lease_from`]), in the background. The receiver gets the operation's final row
    /// when it finished in this run, or `None` when it goes on (a provider poll, a retry).
    pub fn run_claimed(&self, op_id: &OperationId, token: &str) -> tokio::sync::oneshot::Receiver<Option<Operation>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let (op_id, token) = (op_id.clone(), token.to_string());
        tokio::spawn(async move {
            let Ok(_permit) = this.inner.slots.clone().acquire_owned().await else {
                return;
            };
            // The lease may have lapsed while this run waited for a slot; then another runner
            // owns the operation (or will), and this run must not touch the backend.
            let lease = this.lease_ms();
            let (id, tok) = (op_id.clone(), token.clone());
            let still_ours = this
                .inner
                .db
                .write(move |c| Operation::renew(c, id.as_str(), &tok, now_ms(), now_ms() + lease))
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
                    warn!(operation = %op_id, error = %e.chain(), "operation run failed; it will be retried");
                    let _ = tx.send(None);
                }
            }
        });
        rx
    }

    /// Runs an operation now, in the background, if it can be claimed.
    pub fn start(&self, op_id: &str) {
        let this = self.clone();
        let op_id = OperationId::new(op_id);
        tokio::spawn(async move {
            let Ok(_permit) = this.inner.slots.clone().acquire_owned().await else {
                return;
            };
            if let Err(e) = this.execute(&op_id).await {
                warn!(operation = %op_id, error = %e.chain(), "operation run failed; it will be retried");
            }
        });
    }

    /// Looks for due operations until `shutdown` resolves: the resume path after a crash, the
    /// retry path after transient failures, and the poll path for pending provider work.
    pub async fn run_workers(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let interval = Duration::from_millis(self.inner.settings.poll_interval_ms.max(10));
        self.release_previous_runs().await;
        loop {
            match self.inner.db.run(|c| Operation::due(c, now_ms(), 64)).await {
                Ok(due) => {
                    for id in due {
                        self.start(&id);
                    }
                }
                Err(e) if !e.is_outage() => warn!(error = %e.chain(), "looking for due operations failed"),
                Err(_) => {}
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
    }

    /// Frees the leases this node's previous run left: that run is dead (this one holds the
    /// node's lock), so its operations resume now instead of when the leases lapse. Another
    /// replica's leases are left to expire.
    async fn release_previous_runs(&self) {
        let (node, own) = (self.inner.node_prefix.clone(), format!("{}/", self.inner.owner));
        match self
            .inner
            .db
            .write(move |c| Operation::release_previous_runs(c, &node, &own, now_ms()))
            .await
        {
            Ok(0) => {}
            Ok(n) => info!(
                operations = n,
                "resuming the operations this broker's previous run left"
            ),
            Err(e) => {
                warn!(error = %e.chain(), "releasing the previous run's leases failed; they resume when they lapse")
            }
        }
    }

    /// Waits until an operation leaves `in progress` or `timeout` passes; `None` on timeout.
    pub async fn wait(&self, op_id: &OperationId, timeout: Duration) -> Result<Option<Operation>> {
        let mut finished = self.inner.finished.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let id = op_id.clone();
            let op = self.inner.db.run(move |c| Operation::find(c, id.as_str())).await?;
            match op {
                Some(op) if !op.is_in_progress() => return Ok(Some(op)),
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
                        if id != op_id.as_str() {
                            continue;
                        }
                    }
                }
            }
        }
    }

    async fn execute(&self, op_id: &OperationId) -> Result<()> {
        let Lease { token, .. } = self.lease_from(now_ms());
        let lease = self.lease_ms();
        let (id, tok) = (op_id.clone(), token.clone());
        let claimed = self
            .inner
            .db
            .write(move |c| {
                let now = now_ms();
                Operation::claim(c, id.as_str(), &tok, now, now + lease)
            })
            .await?;
        if claimed {
            self.execute_claimed(op_id, token).await?;
        }
        Ok(())
    }

    /// Runs an operation whose lease this runner holds; returns its final row if it finished.
    async fn execute_claimed(&self, op_id: &OperationId, token: String) -> Result<Option<Operation>> {
        let inner = &self.inner;
        let id = op_id.clone();
        let (op, inst, binding, config) = inner
            .db
            .run(move |c| {
                let op = Operation::find(c, id.as_str())?
                    .ok_or_else(|| Error::Internal(format!("operation {id} vanished")))?;
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

        let heartbeat = self.heartbeat(OperationId::new(op.id.clone()), token.clone());
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

    /// Renews the lease every third of its length while the provider works; abort it after.
    fn heartbeat(&self, op_id: OperationId, token: String) -> tokio::task::JoinHandle<()> {
        let db = self.inner.db.clone();
        let lease = self.lease_ms();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis((lease / 3).max(100) as u64)).await;
                let (id, token) = (op_id.clone(), token.clone());
                // Through the writer, like every write (SQLite has one); a failed renewal is
                // retried at the next beat, a lost lease ends the beating.
                let renewed = db
                    .write(move |c| Operation::renew(c, id.as_str(), &token, now_ms(), now_ms() + lease))
                    .await;
                if matches!(renewed, Ok(false)) {
                    return;
                }
            }
        })
    }
}
