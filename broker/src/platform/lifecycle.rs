//! What moves add-ons along after their requests: advancing a provisioning add-on (bind and
//! release its pending attachments, or mark it failed), destroying one, republishing its
//! config, and the reconciler that finishes whatever a request or a crashed broker left
//! half-way.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::domain::{Actor, Platform};
use super::releases::write_release;
use crate::auth::Scope;
use crate::db::models::{instance_state, Addon, AddonState, App, Attachment, AttachmentState, Instance, Release};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, FilterOutage, Result};
use crate::ids::AddonId;
use crate::provisioning::{audit, ProvisionInput};

/// The OSB provision of an add-on's instance (the instance id is the add-on id); it waits
/// for nothing unless the caller sets `prefer_wait`.
pub(super) fn provision_input(
    addon_id: &AddonId,
    service_id: String,
    plan_id: String,
    app: &App,
    addon_name: &str,
    parameters: Value,
) -> ProvisionInput {
    ProvisionInput {
        instance_id: addon_id.to_string(),
        service_id,
        plan_id,
        organization_guid: "addon-broker-platform".into(),
        space_guid: app.id.clone(),
        context: json!({ "platform": "addon-broker", "app_id": app.id, "app_name": app.name, "addon_name": addon_name }),
        parameters,
        maintenance_version: None,
        accepts_incomplete: true,
        prefer_wait: None,
    }
}

impl Platform {
    /// Moves an add-on forward: once its instance is provisioned, binds and releases each
    /// pending attachment; a failed provision marks it failed. Idempotent.
    pub async fn advance_addon(&self, addon_id: &str, actor: &Actor) -> Result<()> {
        let id = addon_id.to_string();
        let (addon, inst, pending) = self
            .db
            .run(move |c| {
                let addon = Addon::by_id(c, &id)?;
                let inst = Instance::find(c, &addon.id)?;
                let pending: Vec<Attachment> = Attachment::of_addon(c, &addon.id)?
                    .into_iter()
                    .filter(|a| a.is(AttachmentState::Pending))
                    .collect();
                Ok((addon, inst, pending))
            })
            .await?;
        let provisioning = addon.is(AddonState::Provisioning);
        let Some(inst) = inst else {
            if provisioning {
                // A broker died between writing the add-on and provisioning it: provision now
                // (the same id, so a repeat converges).
                return self.provision_again(&addon, actor).await;
            }
            return Ok(());
        };
        if inst.state == instance_state::FAILED && provisioning {
            let id = addon.id.clone();
            self.db
                .write(move |c| {
                    Addon::transition(c, &id, AddonState::Provisioning, AddonState::Failed, None)?;
                    Attachment::delete_of_addon_in_state(c, &id, AttachmentState::Pending)
                })
                .await?;
            return Ok(());
        }
        if inst.state != instance_state::PROVISIONED {
            return Ok(());
        }
        for att in pending {
            self.attach(&addon, att, actor).await?;
        }
        if provisioning {
            let id = addon.id.clone();
            self.db
                .write(move |c| {
                    Addon::transition(
                        c,
                        &id,
                        AddonState::Provisioning,
                        AddonState::Provisioned,
                        Some(now_ms()),
                    )
                })
                .await?;
        }
        Ok(())
    }

    /// Provisions an add-on whose instance was never written (its request died first).
    async fn provision_again(&self, addon: &Addon, actor: &Actor) -> Result<()> {
        let plan = self.resolve_plan(&addon.plan_name())?;
        let app_id = addon.app_id.clone();
        let app = self.db.run(move |c| App::find(c, &app_id)).await?;
        let parameters = serde_json::from_str(&addon.config).unwrap_or_else(|_| json!({}));
        let addon_id = AddonId::from(addon.id.as_str());
        let input = provision_input(&addon_id, plan.service_id, plan.plan_id, &app, &addon.name, parameters);
        self.provisioning.provision(input, actor.meta()).await.map(|_| ())
    }

    /// Detaches an add-on everywhere (one release per app), unbinds, and deprovisions it.
    pub(super) async fn destroy_addon(&self, addon: Addon, actor: &Actor) -> Result<()> {
        let id = addon.id.clone();
        let atts = self
            .db
            .write(move |c| {
                Addon::set_state(c, &id, AddonState::Deprovisioning)?;
                Attachment::of_addon(c, &id)
            })
            .await?;
        let mut by_app: BTreeMap<String, Vec<Attachment>> = BTreeMap::new();
        for att in atts {
            by_app.entry(att.app_id.clone()).or_default().push(att);
        }
        for (_, group) in by_app {
            self.detach_group(group, actor).await?;
        }
        let (service_id, plan_id) = self.instance_ids(&addon).await?;
        match self
            .provisioning
            .deprovision(addon.id.clone(), service_id, plan_id, false, actor.meta())
            .await
        {
            Ok(_) | Err(Error::Gone(_)) => {}
            Err(e) => return Err(e),
        }
        let (id, actor2) = (addon.id.clone(), actor.clone());
        self.db
            .write(move |c| {
                Addon::delete(c, &id)?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.addon.destroy",
                    format!("addon/{id}"),
                    json!({}),
                )
            })
            .await
    }

    /// Destroys an add-on whoever owns it (the admin API's forced cleanup): detached from every
    /// app, unbound, deprovisioned.
    pub async fn force_destroy_addon(&self, addon_id: String, actor: &Actor) -> Result<()> {
        let addon = self.db.run(move |c| Addon::by_id(c, &addon_id)).await?;
        self.destroy_addon(addon, actor).await
    }

    /// Inside the caller's transaction: replaces an add-on's vars on every app it is attached to
    /// with `env` (suffixes, prefixed by each attachment's name), one release per app whose
    /// config changes. The dyno manager coalesces the restarts of releases that land together.
    pub(crate) fn republish_addon_config(
        &self,
        c: &mut DbConnection,
        addon_id: &str,
        env: &BTreeMap<String, String>,
        actor: &Actor,
    ) -> Result<usize> {
        let Some(addon) = Addon::get(c, addon_id)? else {
            return Ok(0);
        };
        let mut by_app: BTreeMap<String, Vec<Attachment>> = BTreeMap::new();
        for att in Attachment::of_addon(c, addon_id)?
            .into_iter()
            .filter(|a| a.is(AttachmentState::Attached))
        {
            by_app.entry(att.app_id.clone()).or_default().push(att);
        }
        let mut released = 0;
        for (app_id, atts) in by_app {
            if self.republish_in_app(c, &addon, &app_id, atts, env, actor)? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// [`Platform::republish_addon_config`] for one app and the add-on's attachments to it;
    /// true when a release was written.
    fn republish_in_app(
        &self,
        c: &mut DbConnection,
        addon: &Addon,
        app_id: &str,
        atts: Vec<Attachment>,
        env: &BTreeMap<String, String>,
        actor: &Actor,
    ) -> Result<bool> {
        let (_, mut config) = Release::current_config(c, &self.sealer, app_id)?;
        let before = config.clone();
        // Vars another attachment of the app owns are never taken over.
        let others: BTreeSet<String> = Attachment::of_app(c, app_id)?
            .iter()
            .filter(|a| a.addon_id != addon.id)
            .flat_map(Attachment::var_names)
            .collect();
        for att in &atts {
            for suffix in env.keys() {
                let var = format!("{}_{suffix}", att.name);
                if others.contains(&var) {
                    return Err(Error::Conflict(format!(
                        "config var {var} belongs to another attachment of the app"
                    )));
                }
            }
        }
        for mut att in atts {
            for var in att.var_names() {
                config.remove(&var);
            }
            let mut names = Vec::new();
            for (suffix, value) in env {
                let var = format!("{}_{suffix}", att.name);
                config.insert(var.clone(), value.clone());
                names.push(var);
            }
            att.vars = json!(names).to_string();
            att.updated_at = now_ms();
            att.save(c)?;
        }
        if config == before {
            return Ok(false);
        }
        let description = format!("Update config of {} (by its provider)", addon.name);
        write_release(c, &self.sealer, app_id, description, &config, actor)?;
        Ok(true)
    }

    /// Finishes what requests or a crashed broker left half-way: pending attachments of
    /// provisioned add-ons, failed provisions, detaching attachments, deprovisioning add-ons.
    pub async fn reconcile(&self) -> Result<()> {
        let actor = Actor::internal("reconciler", Scope::Admin, "reconciler".into());
        let (advancing, detaching, destroying) = self
            .db
            .run(|c| {
                let pending = Attachment::addon_ids_in_state(c, AttachmentState::Pending)?;
                let mut advancing = Addon::ids_in_state(c, AddonState::Provisioning)?;
                advancing.extend(pending);
                advancing.sort();
                advancing.dedup();
                let detaching = Attachment::in_state(c, AttachmentState::Detaching)?;
                let destroying = Addon::in_state(c, AddonState::Deprovisioning)?;
                Ok((advancing, detaching, destroying))
            })
            .await?;
        for id in advancing {
            if let Err(e) = self.advance_addon(&id, &actor).await {
                tracing::warn!(addon = %id, error = %e.chain(), "advancing an add-on failed; will retry");
            }
        }
        for att in detaching {
            if let Err(e) = self.detach_group(vec![att.clone()], &actor).await {
                tracing::warn!(attachment = %att.id, error = %e.chain(), "detaching failed; will retry");
            }
        }
        for addon in destroying {
            let id = addon.id.clone();
            if let Err(e) = self.destroy_addon(addon, &actor).await {
                tracing::warn!(addon = %id, error = %e.chain(), "destroying an add-on failed; will retry");
            }
        }
        Ok(())
    }

    /// Runs [`Platform::reconcile`] every `interval` until `shutdown` resolves.
    pub async fn run_reconciler(self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.reconcile().await.filter_outage() {
                tracing::warn!(error = %e.chain(), "reconciling the platform failed");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
