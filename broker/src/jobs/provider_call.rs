//! The provider call an operation row stands for, and the effect its success has on the
//! broker's state.

use std::sync::Arc;

use providers::{
    BindRequest, Credentials, DeprovisionRequest, OperationKind, Outcome, PlanDef, Polled, Provider, ProviderError,
    ProvisionRequest, UnbindRequest, UpdateRequest,
};

use super::{Jobs, UpdatePlan};
use crate::db::models::{Binding, Instance, Operation};

/// What a finished provider call changes in the broker's state.
pub(super) enum Effect {
    Provisioned(providers::Provisioned),
    Updated(UpdatePlan),
    Deprovisioned,
    Bound(providers::Credentials),
    Unbound,
}

/// Everything a provider call of one operation needs, read from its rows.
struct Call<'a> {
    op: &'a Operation,
    binding: Option<&'a Binding>,
    plan: PlanDef,
    parameters: serde_json::Value,
}

impl Call<'_> {
    fn binding_id(&self) -> Result<String, ProviderError> {
        self.binding
            .map(|b| b.id.clone())
            .ok_or_else(|| ProviderError::Failed("binding is missing from the state store".into()))
    }

    fn update_plan(&self) -> Result<UpdatePlan, ProviderError> {
        serde_json::from_str(&self.op.request).map_err(|e| ProviderError::Failed(format!("update request: {e}")))
    }
}

impl Jobs {
    /// Calls the provider for `op` (or polls it, when an earlier call left a token).
    pub(super) async fn call_provider(
        &self,
        op: &Operation,
        inst: &Instance,
        binding: Option<&Binding>,
        instance_config: Option<Credentials>,
    ) -> Result<Outcome<Effect>, ProviderError> {
        let catalog = self.inner.catalog.current();
        let kind = op
            .kind()
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
        let call = Call {
            op,
            binding,
            plan: plan_of(&inst.plan_id)?,
            parameters: serde_json::from_str(&inst.parameters).unwrap_or_default(),
        };
        if let Some(token) = &op.poll_token {
            return poll(provider.as_ref(), kind, token, &call).await;
        }
        let outcome = match kind {
            OperationKind::Provision => provider
                .provision(&ProvisionRequest {
                    instance_id: inst.id.clone(),
                    plan: call.plan,
                    parameters: call.parameters,
                    context: serde_json::from_str(&inst.context).unwrap_or_default(),
                })
                .await?
                .map_done(Effect::Provisioned),
            OperationKind::Update => {
                let target = call.update_plan()?;
                let request = UpdateRequest {
                    instance_id: inst.id.clone(),
                    from_plan: call.plan,
                    to_plan: plan_of(&target.plan_id)?,
                    parameters: target.parameters.clone(),
                };
                provider.update(&request).await?.map_done(|()| Effect::Updated(target))
            }
            OperationKind::Deprovision => provider
                .deprovision(&DeprovisionRequest {
                    instance_id: inst.id.clone(),
                    plan: call.plan,
                })
                .await?
                .map_done(|()| Effect::Deprovisioned),
            OperationKind::Bind => {
                let request = BindRequest {
                    instance_id: inst.id.clone(),
                    binding_id: call.binding_id()?,
                    plan: call.plan,
                    instance_parameters: call.parameters,
                    parameters: binding
                        .and_then(|b| serde_json::from_str(&b.parameters).ok())
                        .unwrap_or_default(),
                    instance_config,
                    password: self.inner.sealer.derive(&format!("bind-password/{}", op.id)),
                };
                provider.bind(&request).await?.map_done(Effect::Bound)
            }
            OperationKind::Unbind => provider
                .unbind(&UnbindRequest {
                    instance_id: inst.id.clone(),
                    binding_id: call.binding_id()?,
                    plan: call.plan,
                })
                .await?
                .map_done(|()| Effect::Unbound),
        };
        Ok(outcome)
    }
}

/// Polls a pending provider operation and maps a finished one to its effect.
async fn poll(
    provider: &dyn Provider,
    kind: OperationKind,
    token: &str,
    call: &Call<'_>,
) -> Result<Outcome<Effect>, ProviderError> {
    Ok(match provider.poll(kind, token).await? {
        Outcome::Pending(t) => Outcome::Pending(t),
        Outcome::Done(polled) => Outcome::Done(match (kind, polled) {
            (OperationKind::Provision, Polled::Provisioned(p)) => Effect::Provisioned(p),
            (OperationKind::Provision, _) => Effect::Provisioned(Default::default()),
            (OperationKind::Update, _) => Effect::Updated(call.update_plan()?),
            (OperationKind::Deprovision, _) => Effect::Deprovisioned,
            (OperationKind::Bind, Polled::Bound(c)) => Effect::Bound(c),
            (OperationKind::Bind, Polled::Finished | Polled::Provisioned(_)) => {
                return Err(ProviderError::Failed("bind finished without credentials".into()))
            }
            (OperationKind::Unbind, _) => Effect::Unbound,
        }),
    })
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
