//! What partners call back: each call authenticated (basic auth, a signature over the body,
//! each signature once), then a config change, or the end of an asynchronous provision or
//! deprovision, on one of the partner's own add-ons.

use providers::partner::{config_to_credentials, valid_var, Manifest, ManifestApi};
use providers::signing::{unix_now, verify};
use providers::Credentials;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use super::{CallbackAction, Marketplace, Spec};
use crate::catalog::clip;
use crate::crypto::Sealer;
use crate::db::models::{
    binding_state, instance_state, op_state, remember_signature, Binding, Instance, InstanceConfig, MarketProvider,
    Operation,
};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::ids::OperationId;
use crate::platform::Actor;
use crate::provisioning::{audit, RequestMeta};

/// A config update's vars: `[{"name", "value"}]` (Heroku's platform API form) or
/// `{"NAME": "value"}`; a null value removes the var.
fn config_changes(body: &Value) -> Result<Vec<(String, Option<String>)>> {
    let bad = || {
        Error::BadRequest(
            "config must be [{\"name\": ..., \"value\": ...}] or an object of strings; null removes a var".into(),
        )
    };
    let mut out = Vec::new();
    match body.get("config") {
        Some(Value::Array(items)) => {
            for item in items {
                let name = item.get("name").and_then(Value::as_str).ok_or_else(bad)?;
                let value = match item.get("value") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Null) | None => None,
                    Some(_) => return Err(bad()),
                };
                out.push((name.to_string(), value));
            }
        }
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = match value {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    _ => return Err(bad()),
                };
                out.push((name.clone(), value));
            }
        }
        _ => return Err(bad()),
    }
    Ok(out)
}

impl Marketplace {
    /// Authenticates a partner's callback: basic auth `id:password` names the partner, the
    /// `X-Addon-Signature` over the body must verify with its password, and a signature may be
    /// used once. Returns the partner's id and manifest.
    pub async fn authenticate(
        &self,
        credentials: Option<(String, String)>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Manifest> {
        let unauthorized =
            || Error::Unauthorized("callbacks need basic auth with the provider's id and password".into());
        let (id, password) = credentials.ok_or_else(unauthorized)?;
        let pid = id.to_string();
        let row = self
            .inner
            .db
            .run(move |c| MarketProvider::find(c, &pid))
            .await?
            .ok_or_else(unauthorized)?;
        let Spec::Partner(manifest) = self.open_spec(&row)? else {
            return Err(unauthorized());
        };
        if !bool::from(manifest.api.password.as_bytes().ct_eq(password.as_bytes())) {
            return Err(unauthorized());
        }
        let verified = verify(manifest.api.password.as_bytes(), signature, body, unix_now())
            .map_err(|e| Error::Unauthorized(e.to_string()))?;
        let (pid, mac) = (row.id.clone(), verified.mac.clone());
        let fresh = self
            .inner
            .db
            .write(move |c| remember_signature(c, &pid, &mac, now_ms()))
            .await?;
        if !fresh {
            return Err(Error::Unauthorized(
                "this X-Addon-Signature was already used; sign every request afresh".into(),
            ));
        }
        Ok(manifest)
    }

    /// A partner's callback, from authentication to its JSON answer: basic auth and signature
    /// first (nothing is read before), then the action on the partner's own add-on.
    pub async fn callback(
        &self,
        credentials: Option<(String, String)>,
        signature: Option<&str>,
        body: &[u8],
        uuid: &str,
        action: CallbackAction,
    ) -> Result<Value> {
        let manifest = self.authenticate(credentials, signature, body).await?;
        let parsed = || -> Result<Value> {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(json!({}));
            }
            serde_json::from_slice(body)
                .map_err(|e| Error::BadRequest(clip(&format!("request body is not valid JSON: {e}"))))
        };
        Ok(match action {
            CallbackAction::Config => {
                let names = self.update_config(&manifest, uuid, &parsed()?).await?;
                json!({ "id": uuid, "config_vars": names })
            }
            CallbackAction::Provisioned => {
                json!({ "id": uuid, "state": self.provision_done(&manifest, uuid, &parsed()?).await? })
            }
            CallbackAction::Deprovisioned => {
                json!({ "id": uuid, "state": self.deprovision_done(&manifest, uuid).await? })
            }
        })
    }

    /// The instance a partner's callback is about: 404 when unknown, 403 when it is another
    /// provider's.
    async fn own_instance(&self, manifest: &Manifest, uuid: &str) -> Result<Instance> {
        crate::provisioning::validate_id("add-on id", uuid)?;
        let id = uuid.to_string();
        let inst = self
            .inner
            .db
            .run(move |c| Instance::find(c, &id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("add-on {uuid} does not exist")))?;
        let owner = self.inner.catalog.current().owner(&inst.service_id).map(str::to_string);
        if owner.as_deref() != Some(manifest.id.as_str()) {
            return Err(Error::Forbidden(format!(
                "add-on {uuid} is not one of provider {}'s add-ons",
                manifest.id
            )));
        }
        Ok(inst)
    }

    /// `PATCH /provider/addons/{uuid}/config`: merges the vars into the add-on's config and
    /// releases them on every app it is attached to (one release per app). Returns the vars'
    /// names.
    pub async fn update_config(&self, manifest: &Manifest, uuid: &str, body: &Value) -> Result<Vec<String>> {
        let inst = self.own_instance(manifest, uuid).await?;
        if !inst.is_live() {
            return Err(Error::Gone(format!("add-on {uuid} is deprovisioned")));
        }
        let changes = config_changes(body)?;
        check_changes(&manifest.api, &changes)?;
        let api = manifest.api.clone();
        let (sealer, id) = (self.inner.sealer.clone(), inst.id.clone());
        let actor = Actor::internal(
            format!("provider:{}", manifest.id),
            crate::auth::Scope::Provider,
            uuid::Uuid::new_v4().to_string(),
        );
        let platform = self.inner.platform.clone();
        let provider_id = manifest.id.clone();
        self.inner
            .db
            .write(move |c| {
                // Checked in the transaction: a deprovision that finished meanwhile has deleted
                // the config, which must not come back.
                let state = Instance::find(c, &id)?.map(|i| i.state).unwrap_or_default();
                if state != instance_state::PROVISIONING && state != instance_state::PROVISIONED {
                    return Err(Error::Conflict(format!(
                        "add-on {id} is {state}; its config cannot change"
                    )));
                }
                let config = merged_config(c, &sealer, &id, &changes)?;
                let creds = config_to_credentials(&api, &config).map_err(Error::Unprocessable)?;
                let now = now_ms();
                InstanceConfig {
                    instance_id: id.clone(),
                    config: crate::crypto::seal_instance_config(&sealer, &id, &creds)?,
                    updated_at: now,
                }
                .upsert(c)?;
                reseal_bindings(c, &sealer, &id, &creds, now)?;
                platform.republish_addon_config(c, &id, &creds.env, &actor)?;
                audit(
                    c,
                    &actor.meta(),
                    "provider.addon.config",
                    format!("instance/{id}"),
                    json!({ "provider": provider_id, "vars": creds.values.keys().collect::<Vec<_>>() }),
                )?;
                Ok(creds.values.keys().cloned().collect())
            })
            .await
    }

    /// `POST /provider/addons/{uuid}/actions/provision`: finishes an asynchronous provision.
    /// The config must be set first (or come in this body).
    pub async fn provision_done(&self, manifest: &Manifest, uuid: &str, body: &Value) -> Result<&'static str> {
        let inst = self.own_instance(manifest, uuid).await?;
        if inst.state == instance_state::PROVISIONING && body.get("config").is_some() {
            self.update_config(manifest, uuid, body).await?;
        }
        if inst.state == instance_state::PROVISIONED && inst.active_operation_id.is_none() {
            return Ok("provisioned");
        }
        if inst.state != instance_state::PROVISIONING {
            return Err(Error::Conflict(format!(
                "add-on {uuid} is {}; it cannot be marked provisioned",
                inst.state
            )));
        }
        let id = inst.id.clone();
        let has_config = self
            .inner
            .db
            .run(move |c| InstanceConfig::find(c, &id))
            .await?
            .is_some();
        if !has_config {
            return Err(Error::Unprocessable(format!(
                "set the add-on's config (PATCH /provider/addons/{uuid}/config) before marking it provisioned"
            )));
        }
        let op = self.pending_operation(&inst, "provision").await?;
        self.finish(&op, uuid).await?;
        self.after_callback(uuid, manifest, "provision").await?;
        // Attach at once rather than at the reconciler's next pass.
        let (platform, id) = (self.inner.platform.clone(), uuid.to_string());
        tokio::spawn(async move {
            let actor = Actor::internal(
                "provider-callback",
                crate::auth::Scope::Admin,
                uuid::Uuid::new_v4().to_string(),
            );
            if let Err(e) = platform.advance_addon(&id, &actor).await {
                tracing::debug!(addon = %id, error = %e.chain(), "attaching after a provision callback; the reconciler retries");
            }
        });
        Ok("provisioned")
    }

    /// `POST /provider/addons/{uuid}/actions/deprovision`: finishes an asynchronous deprovision.
    pub async fn deprovision_done(&self, manifest: &Manifest, uuid: &str) -> Result<&'static str> {
        let inst = self.own_instance(manifest, uuid).await?;
        if inst.state == instance_state::DEPROVISIONED {
            return Ok("deprovisioned");
        }
        let op = self.pending_operation(&inst, "deprovision").await?;
        self.finish(&op, uuid).await?;
        self.after_callback(uuid, manifest, "deprovision").await?;
        Ok("deprovisioned")
    }

    /// Finishes a waiting operation; 409 when it ended meanwhile (failed at its deadline).
    async fn finish(&self, op: &OperationId, uuid: &str) -> Result<()> {
        match self
            .inner
            .platform
            .provisioning()
            .jobs()
            .complete_from_callback(op.as_str())
            .await?
        {
            Some(_) => Ok(()),
            None => Err(Error::Conflict(format!(
                "add-on {uuid}'s operation ended before the callback (its deadline passed)"
            ))),
        }
    }

    async fn pending_operation(&self, inst: &Instance, kind: &str) -> Result<OperationId> {
        let op_id = inst
            .active_operation_id
            .clone()
            .ok_or_else(|| Error::Conflict(format!("add-on {} has no {kind} waiting for the provider", inst.id)))?;
        let id = op_id.clone();
        let op = self
            .inner
            .db
            .run(move |c| Operation::find(c, &id))
            .await?
            .ok_or_else(|| Error::Internal(format!("operation {op_id} vanished")))?;
        if op.kind != kind || op.state != op_state::IN_PROGRESS {
            return Err(Error::Conflict(format!(
                "add-on {} has no {kind} waiting for the provider (its operation is a {})",
                inst.id, op.kind
            )));
        }
        Ok(OperationId::new(op.id))
    }

    async fn after_callback(&self, uuid: &str, manifest: &Manifest, what: &str) -> Result<()> {
        let meta = RequestMeta {
            request_id: None,
            actor: Some(format!("provider:{}", manifest.id)),
        };
        let (target, action) = (format!("instance/{uuid}"), format!("provider.addon.{what}"));
        self.inner
            .db
            .write(move |c| audit(c, &meta, &action, target.clone(), json!({})))
            .await
    }
}

/// Every changed var must carry the manifest's prefix, be declared in it, and hold no NUL.
fn check_changes(api: &ManifestApi, changes: &[(String, Option<String>)]) -> Result<()> {
    let prefix = &api.config_vars_prefix;
    for (name, value) in changes {
        if !valid_var(prefix, name) {
            return Err(Error::Unprocessable(clip(&format!(
                "config var {name:?} does not start with the prefix {prefix}_"
            ))));
        }
        if !api.config_vars.contains(name) {
            return Err(Error::Unprocessable(clip(&format!(
                "config var {name} is not declared in the manifest's api.config_vars"
            ))));
        }
        if value.as_ref().is_some_and(|v| v.contains('\0')) {
            return Err(Error::Unprocessable(format!("config var {name} contains a NUL byte")));
        }
    }
    Ok(())
}

/// The instance's stored config with the changes applied (a `None` removes the var).
fn merged_config(
    c: &mut DbConnection,
    sealer: &Sealer,
    id: &str,
    changes: &[(String, Option<String>)],
) -> Result<Map<String, Value>> {
    let mut config = match InstanceConfig::find(c, id)? {
        Some(row) => crate::crypto::open_instance_config(sealer, &row)?.values,
        None => Map::new(),
    };
    for (name, value) in changes {
        match value {
            Some(v) => config.insert(name.clone(), Value::String(v.clone())),
            None => config.remove(name),
        };
    }
    Ok(config)
}

/// Every bound binding carries the add-on's config: keep them the same.
fn reseal_bindings(c: &mut DbConnection, sealer: &Sealer, id: &str, creds: &Credentials, now: i64) -> Result<()> {
    let bound = Binding::of_instance_in_state(c, id, binding_state::BOUND)?;
    let plain = serde_json::to_vec(creds).map_err(|e| Error::internal("serializing the add-on's config", e))?;
    for mut b in bound {
        b.credentials = Some(sealer.seal(&plain, &format!("binding/{}", b.id))?);
        b.updated_at = now;
        b.save(c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_changes_take_both_forms() {
        let list =
            config_changes(&json!({ "config": [{ "name": "A_B", "value": "x" }, { "name": "A_C", "value": null }] }))
                .unwrap();
        assert_eq!(list, vec![("A_B".into(), Some("x".into())), ("A_C".into(), None)]);
        let map = config_changes(&json!({ "config": { "A_B": "x" } })).unwrap();
        assert_eq!(map, vec![("A_B".into(), Some("x".into()))]);
        assert!(config_changes(&json!({ "config": [{ "name": "A_B", "value": 1 }] })).is_err());
        assert!(config_changes(&json!({})).is_err());
    }
}
