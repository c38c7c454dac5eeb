//! Recording outcomes: the operation's new state and the instance or binding change it
//! implies, written in one transaction, by the runner that holds the lease or by a provider
//! callback.

use std::sync::Arc;

use providers::{OperationKind, Outcome, ProviderError};
use tracing::info;

use super::provider_call::Effect;
use super::Jobs;
use crate::crypto::Sealer;
use crate::db::models::{binding_state, instance_state, op_state, Binding, Instance, InstanceConfig, Operation};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};

/// What a provider call's result means for its operation row.
#[derive(Clone)]
enum Verdict {
    /// Finished; the effect is applied.
    Succeeded,
    /// The provider works on; poll again with this token.
    Pending(String),
    /// The call failed; a transient failure is retried while attempts remain.
    Failed { transient: bool, message: String },
}

impl Verdict {
    fn of(result: &Result<Outcome<Effect>, ProviderError>) -> Verdict {
        match result {
            Ok(Outcome::Done(_)) => Verdict::Succeeded,
            Ok(Outcome::Pending(token)) => Verdict::Pending(token.clone()),
            Err(e) => Verdict::Failed {
                transient: e.is_transient(),
                message: e.to_string(),
            },
        }
    }
}

impl Jobs {
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
                if !op.is_in_progress() || deadline_passed(&op, now) {
                    return Ok(None);
                }
                let effect = match op.kind() {
                    Some(OperationKind::Provision) => Effect::Provisioned(Default::default()),
                    Some(OperationKind::Deprovision) => Effect::Deprovisioned,
                    _ => return Err(Error::Internal(format!("a callback cannot finish a {}", op.kind))),
                };
                op.release_lease(now);
                let description = format!("{} succeeded (reported by the provider)", op.kind);
                op.finish(op_state::SUCCEEDED, description, now);
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

    /// Writes the outcome and the state change it implies, if this runner still holds the lease;
    /// returns the operation's final row when it finished.
    pub(super) async fn record(
        &self,
        op: Operation,
        result: Result<Outcome<Effect>, ProviderError>,
        owner: String,
    ) -> Result<Option<Operation>> {
        let inner = &self.inner;
        let max_attempts = inner.settings.max_attempts;
        let poll_interval = inner.settings.poll_interval_ms as i64;
        let op_id = op.id.clone();
        let kind = op.kind.clone();
        // Sealing happens outside the transaction closure, which may run more than once.
        let sealed = seal_result(&inner.sealer, &op, &result)?;
        let verdict = Verdict::of(&result);
        let effect = Arc::new(result.ok().and_then(|o| match o {
            Outcome::Done(e) => Some(e),
            Outcome::Pending(_) => None,
        }));
        let finished = inner
            .db
            .write(move |c| {
                let now = now_ms();
                let Some(mut op) = Operation::find(c, &op_id)? else {
                    return Ok(None);
                };
                if !op.is_in_progress() || op.lease_owner.as_deref() != Some(owner.as_str()) {
                    // Another runner took over after our lease lapsed; its outcome stands.
                    return Ok(None);
                }
                op.release_lease(now);
                match &verdict {
                    Verdict::Pending(token) => {
                        op.poll_token = Some(token.clone());
                        op.due_at = now + poll_interval;
                        op.description = Some("waiting for the provider".into());
                        op.save(c)?;
                        return Ok(None);
                    }
                    Verdict::Failed {
                        transient: true,
                        message,
                    } if op.attempts < max_attempts => {
                        let backoff = (200i64 << op.attempts.min(8)).min(30_000);
                        op.due_at = now + backoff;
                        op.description = Some(format!("retrying (attempt {}): {message}", op.attempts));
                        op.save(c)?;
                        return Ok(None);
                    }
                    Verdict::Failed { message, .. } => {
                        op.finish(op_state::FAILED, message.clone(), now);
                        apply_failure(c, &op, now)?;
                    }
                    Verdict::Succeeded => {
                        let description = format!("{} succeeded", op.kind);
                        op.finish(op_state::SUCCEEDED, description, now);
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

/// A callback after the operation's deadline is too late even before the poll that fails the
/// operation (and sends the deprovision) has run.
fn deadline_passed(op: &Operation, now: i64) -> bool {
    let deadline = op
        .poll_token
        .as_deref()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .and_then(|t| t.get("deadline").and_then(serde_json::Value::as_i64));
    deadline.is_some_and(|d| now >= d)
}

/// The secret a successful result carries, sealed for storage: a binding's credentials or an
/// instance's provider-set config.
fn seal_result(
    sealer: &Sealer,
    op: &Operation,
    result: &Result<Outcome<Effect>, ProviderError>,
) -> Result<Option<Vec<u8>>> {
    Ok(match result {
        Ok(Outcome::Done(Effect::Bound(creds))) => {
            let plain = serde_json::to_vec(creds).map_err(|e| Error::internal("encoding credentials", e))?;
            let binding = op.binding_id.clone().unwrap_or_default();
            Some(sealer.seal(&plain, &format!("binding/{binding}"))?)
        }
        Ok(Outcome::Done(Effect::Provisioned(providers::Provisioned {
            config: Some(config), ..
        }))) => Some(crate::crypto::seal_instance_config(sealer, &op.instance_id, config)?),
        _ => None,
    })
}

fn apply_success(
    c: &mut DbConnection,
    op: &Operation,
    effect: Option<&Effect>,
    sealed: Option<Vec<u8>>,
    now: i64,
) -> Result<()> {
    if let Some(binding_id) = &op.binding_id {
        let Some(mut b) = Binding::find(c, &op.instance_id, binding_id)? else {
            return Ok(());
        };
        b.end_operation(now);
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
    inst.end_operation(now);
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
            InstanceConfig::delete(c, &inst.id)?;
        }
        _ => {}
    }
    inst.save(c)
}

fn apply_failure(c: &mut DbConnection, op: &Operation, now: i64) -> Result<()> {
    if let Some(binding_id) = &op.binding_id {
        let Some(mut b) = Binding::find(c, &op.instance_id, binding_id)? else {
            return Ok(());
        };
        b.end_operation(now);
        if op.is(OperationKind::Bind) {
            b.state = binding_state::FAILED.into();
        }
        return b.save(c);
    }
    let Some(mut inst) = Instance::find(c, &op.instance_id)? else {
        return Ok(());
    };
    inst.end_operation(now);
    if op.is(OperationKind::Provision) {
        inst.state = instance_state::FAILED.into();
    }
    inst.save(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_is_late_only_once_the_poll_token_deadline_passed() {
        let mut op = Operation::new_leased(OperationKind::Provision, "i", None, "{}".into(), "owner", 10, 0);
        assert!(!deadline_passed(&op, 1_000));
        op.poll_token = Some(r#"{"deadline":500}"#.into());
        assert!(!deadline_passed(&op, 499));
        assert!(deadline_passed(&op, 500));
    }

    #[test]
    fn a_transient_provider_error_is_a_retryable_failure() {
        let result: Result<Outcome<Effect>, ProviderError> = Err(ProviderError::Transient("busy".into()));
        assert!(matches!(Verdict::of(&result), Verdict::Failed { transient: true, .. }));
        let pending: Result<Outcome<Effect>, ProviderError> = Ok(Outcome::Pending("t".into()));
        assert!(matches!(Verdict::of(&pending), Verdict::Pending(t) if t == "t"));
    }
}
