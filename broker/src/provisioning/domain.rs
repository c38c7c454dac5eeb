//! The domain value shared by every resource: the [`Provisioning`] handle, who asked
//! ([`RequestMeta`]), how a request is answered ([`Reply`]), and the decision taken in the
//! transaction that [`Provisioning::settle`] turns into that answer.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::catalog::{clip, Catalog, CatalogHandle};
use crate::crypto::Sealer;
use crate::db::models::{op_state, AuditEntry, Operation};
use crate::db::{now_ms, Db, DbConnection};
use crate::error::{Error, Result};
use crate::ids::OperationId;
use crate::jobs::{Jobs, Lease};

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

impl Reply<()> {
    /// Update, deprovision and unbind answer 200 whether they ran now or had already run.
    fn done_either_way(self) -> Reply<()> {
        match self {
            Reply::Exists(()) => Reply::Created(()),
            other => other,
        }
    }
}

/// The provisioning domain: decisions, waiting, and views.
#[derive(Clone)]
pub struct Provisioning {
    pub(super) db: Db,
    pub(super) catalog: CatalogHandle,
    pub(super) jobs: Jobs,
    pub(super) sealer: Sealer,
    pub(super) sync_timeout: Duration,
}

/// A decision taken inside the transaction.
pub(super) enum Decision<T> {
    /// A new operation was written, leased to this request's run; start it.
    Started {
        /// The operation written.
        op: OperationId,
        /// The lease this request's run holds on it.
        lease: Lease,
    },
    /// The same operation is already running.
    Running(OperationId),
    /// Nothing to do; here is the answer.
    Ready(T),
}

impl<T> Decision<T> {
    /// The operation just written, to be run under `lease`.
    pub(super) fn started(op: &Operation, lease: Lease) -> Self {
        Decision::Started {
            op: OperationId::new(op.id.clone()),
            lease,
        }
    }

    /// Joins the operation already running when it is of `kind`; anything else running on
    /// the resource is a concurrency error with `busy` as its message.
    pub(super) fn join_if(op: Option<Operation>, kind: providers::OperationKind, busy: String) -> Result<Self> {
        match op {
            Some(op) if op.is(kind) => Ok(Decision::Running(OperationId::new(op.id))),
            _ => Err(Error::ConcurrencyError(busy)),
        }
    }
}

/// How long a request waits for its operation, and what it answers if that is too long.
enum Wait {
    /// Answer 202 with the operation at once.
    Not,
    /// Wait up to this long, then answer 202 (the platform API's choice).
    ThenAccept(Duration),
    /// Wait up to the broker's sync timeout, then fail with `AsyncRequired`.
    ThenFail(Duration),
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

    fn wait_for(&self, accepts_incomplete: bool, prefer_wait: Option<Duration>) -> Wait {
        match (accepts_incomplete, prefer_wait) {
            (true, None) => Wait::Not,
            (true, Some(wait)) => Wait::ThenAccept(wait),
            (false, _) => Wait::ThenFail(self.sync_timeout),
        }
    }

    /// Turns a decision into a reply: starts or waits for the operation as the request allows.
    pub(super) async fn settle<T>(
        &self,
        decision: Decision<T>,
        accepts_incomplete: bool,
        prefer_wait: Option<Duration>,
        finished: impl FnOnce(&Self, bool) -> futures::future::BoxFuture<'_, Result<T>>,
    ) -> Result<Reply<T>> {
        let (op, lease) = match decision {
            Decision::Ready(value) => return Ok(Reply::Exists(value)),
            Decision::Started { op, lease } => (op, Some(lease)),
            Decision::Running(op) => (op, None),
        };
        let local = lease.as_ref().map(|lease| self.jobs.run_claimed(&op, &lease.token));
        let started = lease.is_some();
        let (timeout, accept_on_timeout) = match self.wait_for(accepts_incomplete, prefer_wait) {
            Wait::Not => return Ok(Reply::Accepted(op.into_string())),
            Wait::ThenAccept(wait) => (wait, true),
            Wait::ThenFail(wait) => (wait, false),
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
                Ok(if started {
                    Reply::Created(value)
                } else {
                    Reply::Exists(value)
                })
            }
            Some(done) => Err(Error::Backend(format!(
                "operation {} failed: {}",
                done.id,
                done.description.unwrap_or_else(|| "no description".into())
            ))),
            None if accept_on_timeout => Ok(Reply::Accepted(op.into_string())),
            None => Err(self.unfinished(&op).await),
        }
    }

    /// Why a synchronous request's operation did not finish in time: its backend fails (a 503
    /// with `Retry-After`: the platform retries, and the retry joins the same operation), or it
    /// simply takes longer (422 `AsyncRequired`).
    async fn unfinished(&self, op: &OperationId) -> Error {
        let id = op.clone();
        let row = self.db.run(move |c| Operation::find(c, id.as_str())).await;
        if let Ok(Some(row)) = row {
            if let Some(why) = row.description.as_deref().filter(|d| d.starts_with("retrying")) {
                return Error::Unavailable(format!(
                    "operation {op} is waiting for its backend ({}); retry the request later",
                    clip(why)
                ));
            }
        }
        Error::AsyncRequired(format!(
            "operation {op} did not finish within {} ms; retry with accepts_incomplete=true and poll last_operation",
            self.sync_timeout.as_millis()
        ))
    }

    /// Settles a decision whose success carries nothing (update, deprovision, unbind).
    pub(super) async fn settle_unit(&self, decision: Decision<()>, accepts_incomplete: bool) -> Result<Reply<()>> {
        let reply = self
            .settle(decision, accepts_incomplete, None, |_, _| Box::pin(async { Ok(()) }))
            .await?;
        Ok(reply.done_either_way())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_to_64_safe_characters_and_never_only_dots() {
        assert!(validate_id("instance_id", "a-B_9.x").is_ok());
        assert!(validate_id("instance_id", &"a".repeat(MAX_ID_LEN)).is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"a".repeat(MAX_ID_LEN + 1)] {
            assert!(
                matches!(validate_id("instance_id", bad), Err(Error::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
