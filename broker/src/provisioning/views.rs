//! What the platform sees of instances, bindings and operations, built from stored rows.

use serde::Serialize;
use serde_json::Value;

use crate::crypto::Sealer;
use crate::db::models::{op_state, Binding, Instance, Operation};
use crate::error::{Error, Result};

/// Stored JSON text as a value (`null` if it does not parse).
pub(super) fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
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

impl From<Instance> for InstanceView {
    fn from(i: Instance) -> Self {
        InstanceView {
            service_id: i.service_id,
            plan_id: i.plan_id,
            dashboard_url: i.dashboard_url,
            parameters: parse_json(&i.parameters),
            maintenance_version: i.maintenance_version,
        }
    }
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

impl BindingView {
    /// Opens a bound binding's sealed credentials.
    pub(super) fn open(sealer: &Sealer, b: &Binding) -> Result<BindingView> {
        let sealed = b
            .credentials
            .as_ref()
            .ok_or_else(|| Error::Internal(format!("binding {} has no stored credentials", b.id)))?;
        let plain = sealer.open(sealed, &format!("binding/{}", b.id))?;
        let creds: providers::Credentials =
            serde_json::from_slice(&plain).map_err(|e| Error::internal("stored credentials", e))?;
        Ok(BindingView {
            credentials: creds.values,
            env: creds.env,
            parameters: parse_json(&b.parameters),
        })
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

impl LastOperation {
    /// Describes an operation; `instance_usable` is reported only after a failed update or
    /// deprovision, where the platform needs it.
    pub(super) fn of(op: &Operation, instance_usable: bool) -> LastOperation {
        use providers::OperationKind::{Deprovision, Update};
        let state = match op.state.as_str() {
            op_state::SUCCEEDED => "succeeded",
            op_state::FAILED => "failed",
            _ => "in progress",
        };
        let failed_update = op.state == op_state::FAILED && op.is(Update);
        let failed_deprovision = op.state == op_state::FAILED && op.is(Deprovision);
        LastOperation {
            state,
            description: op.description.clone(),
            instance_usable: (failed_update || failed_deprovision).then_some(instance_usable),
            update_repeatable: failed_update.then_some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: &str, state: &str) -> Operation {
        let kind = providers::OperationKind::parse(kind).unwrap();
        let mut op = Operation::new_leased(kind, "i", None, "{}".into(), "owner", 10, 0);
        op.state = state.to_string();
        op
    }

    #[test]
    fn usability_is_reported_only_after_a_failed_update_or_deprovision() {
        let failed_update = LastOperation::of(&op("update", op_state::FAILED), true);
        assert_eq!(failed_update.state, "failed");
        assert_eq!(failed_update.instance_usable, Some(true));
        assert_eq!(failed_update.update_repeatable, Some(true));
        let failed_deprovision = LastOperation::of(&op("deprovision", op_state::FAILED), false);
        assert_eq!(failed_deprovision.instance_usable, Some(false));
        assert_eq!(failed_deprovision.update_repeatable, None);
        let running = LastOperation::of(&op("provision", op_state::IN_PROGRESS), true);
        assert_eq!(running.state, "in progress");
        assert_eq!(running.instance_usable, None);
    }
}
