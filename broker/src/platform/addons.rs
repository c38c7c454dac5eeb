//! Add-ons: creating one (provision, then bind and release through its first attachment),
//! listing, showing, changing its plan and destroying it. What moves an add-on along after its
//! request (and after a crash) is in `lifecycle`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::addon_refs::{resolve_addon, role_on_owner, Reach};
use super::domain::{Actor, Platform};
use super::lifecycle::provision_input;
use super::names::{lower_random, new_attachment_name, validate_addon_name, validate_attachment_name};
use super::plans::{requires, ResolvedPlan};
use super::views::{iso, AddonView, NameRef};
use crate::access::{app_for, load_app, visible_apps, Role};
use crate::catalog::clip;
use crate::db::models::{Addon, AddonState, App, Attachment, Instance};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::ids::{AddonId, AddonRef, AppId, AppRef, AttachmentId};
use crate::provisioning::{audit, UpdateInput};

/// A request to create an add-on.
#[derive(Debug, Clone)]
pub struct NewAddon {
    /// `service:plan`.
    pub plan: String,
    /// Attachment name (config var prefix), else a default.
    pub attachment_name: Option<String>,
    /// Plan parameters.
    pub config: Value,
    /// Add-on name, else generated.
    pub name: Option<String>,
}

/// What creating an add-on came to.
#[derive(Debug, Clone)]
pub enum AddonCreated {
    /// Provisioned, attached, and its config vars released now.
    Provisioned(AddonView),
    /// Provisioning goes on; the config vars arrive in a later release.
    Provisioning(AddonView),
}

/// Everything the transaction that writes a new add-on's rows needs.
struct AddonDraft {
    app: String,
    req: NewAddon,
    service: String,
    plan: String,
    metadata: Option<Value>,
    one_per_app: bool,
    addon_id: AddonId,
    attachment_id: AttachmentId,
}

/// The view of an add-on (its app's name and its attachments' vars looked up).
pub(super) fn addon_view(c: &mut DbConnection, addon: &Addon) -> Result<AddonView> {
    let app = App::get(c, &addon.app_id)?;
    let mut vars: Vec<String> = Attachment::of_addon(c, &addon.id)?
        .iter()
        .flat_map(Attachment::var_names)
        .collect();
    vars.sort();
    Ok(AddonView {
        id: addon.id.clone(),
        name: addon.name.clone(),
        app: NameRef {
            id: addon.app_id.clone(),
            name: app.map(|a| a.name).unwrap_or_default(),
        },
        plan: addon.plan_name(),
        service: addon.service.clone(),
        state: addon.state.clone(),
        config_vars: vars,
        created_at: iso(addon.created_at),
        updated_at: iso(addon.updated_at),
    })
}

/// The checks of a create request that need no state.
fn check_new_addon(req: &NewAddon) -> Result<()> {
    if !req.config.is_object() {
        return Err(Error::BadRequest("config must be a JSON object".into()));
    }
    if let Some(n) = &req.attachment_name {
        validate_attachment_name(n)?;
    }
    if let Some(n) = &req.name {
        validate_addon_name(n)?;
    }
    Ok(())
}

/// Inside one transaction: writes a new add-on (`provisioning`) and its first attachment
/// (`pending`), after the one-per-app rule and the attachment name checks. Returns the app and
/// the add-on's name.
fn write_new_addon(c: &mut DbConnection, d: &AddonDraft, actor: &Actor) -> Result<(App, String)> {
    let a = app_for(c, &d.app, actor, Role::Collaborator)?;
    if d.one_per_app && Addon::count_unfailed_of_service(c, &a.id, &d.service)? > 0 {
        return Err(Error::Unprocessable(format!(
            "app {} already has a {} add-on, and its provider allows one per app (no many_per_app)",
            a.name, d.service
        )));
    }
    let taken: BTreeSet<String> = Attachment::of_app(c, &a.id)?.into_iter().map(|x| x.name).collect();
    let name = new_attachment_name(
        d.req.attachment_name.as_deref(),
        &taken,
        &d.service,
        d.metadata.as_ref(),
        &a.name,
    )?;
    let addon_name = d
        .req
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", d.service, lower_random(8)));
    let now = now_ms();
    let addon = Addon {
        id: d.addon_id.to_string(),
        name: addon_name,
        app_id: a.id.clone(),
        service: d.service.clone(),
        plan: d.plan.clone(),
        config: d.req.config.to_string(),
        state: AddonState::Provisioning.as_str().into(),
        created_at: now,
        updated_at: now,
    };
    addon.insert(c)?;
    let app_id = AppId::from(a.id.as_str());
    Attachment::pending(d.attachment_id.clone(), &d.addon_id, &app_id, name, now).insert(c)?;
    audit(
        c,
        &actor.meta(),
        "platform.addon.create",
        format!("addon/{}", addon.id),
        json!({ "app": a.name, "plan": addon.plan_name(), "name": addon.name }),
    )?;
    Ok((a, addon.name))
}

impl Platform {
    /// Creates an add-on for an app: provisions, binds, attaches and releases its config vars.
    /// [`AddonCreated::Provisioned`] when it is provisioned now; [`AddonCreated::Provisioning`]
    /// when provisioning goes on (the config vars arrive in a later release).
    pub async fn create_addon(&self, app: String, req: NewAddon, actor: &Actor) -> Result<AddonCreated> {
        load_app(&self.db, &app, actor, Role::Collaborator).await?;
        let ResolvedPlan {
            service_id,
            plan_id,
            service,
            plan,
        } = self.resolve_plan(&req.plan)?;
        let metadata = self.service_metadata(&service_id);
        let one_per_app = requires(&metadata).is_some_and(|r| !r.contains(&"many_per_app".to_string()));
        check_new_addon(&req)?;
        let (addon_id, attachment_id) = (AddonId::random(), AttachmentId::random());
        let parameters = req.config.clone();
        let draft = AddonDraft {
            app,
            req,
            service,
            plan,
            metadata,
            one_per_app,
            addon_id: addon_id.clone(),
            attachment_id: attachment_id.clone(),
        };
        let actor2 = actor.clone();
        let (app_row, addon_name) = self
            .db
            .write(move |c| write_new_addon(c, &draft, &actor2))
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    Error::Conflict("that add-on name is taken".into())
                } else {
                    e
                }
            })?;
        let mut input = provision_input(&addon_id, service_id, plan_id, &app_row, &addon_name, parameters);
        input.prefer_wait = Some(self.create_wait);
        self.provision_new_addon(&addon_id, &attachment_id, input, actor)
            .await?;
        self.finish_new_addon(&addon_id, actor).await
    }

    /// Provisions a new add-on's instance. A refusal before anything was provisioned removes
    /// the add-on's rows and is the caller's error; anything later is carried on in the
    /// background.
    async fn provision_new_addon(
        &self,
        addon_id: &AddonId,
        attachment_id: &AttachmentId,
        input: crate::provisioning::ProvisionInput,
        actor: &Actor,
    ) -> Result<()> {
        match self.provisioning.provision(input, actor.meta()).await {
            // Created, or still provisioning (the reconciler finishes it), or failed on the
            // backend (the add-on is marked failed later).
            Ok(_) | Err(Error::Backend(_)) => Ok(()),
            Err(e) => {
                let id = addon_id.to_string();
                let instance = self.db.run(move |c| Instance::find(c, &id)).await?;
                if instance.is_none() {
                    // Refused before anything was provisioned: leave nothing behind.
                    let (a, b) = (addon_id.to_string(), attachment_id.to_string());
                    self.db
                        .write(move |c| {
                            Attachment::delete(c, &b)?;
                            Addon::delete(c, &a)
                        })
                        .await?;
                    return Err(e);
                }
                // The instance exists: the reconciler carries the add-on on (202).
                tracing::warn!(addon = %addon_id, error = %e.chain(), "provisioning an add-on goes on in the background");
                Ok(())
            }
        }
    }

    /// Attaches a new add-on if it is provisioned, and says how its creation came out.
    async fn finish_new_addon(&self, addon_id: &AddonId, actor: &Actor) -> Result<AddonCreated> {
        if let Err(e) = self.advance_addon(addon_id.as_str(), actor).await {
            // Provisioned but not yet attached: the reconciler retries, and the caller gets
            // 202 rather than an error that would make it create a second add-on.
            tracing::warn!(addon = %addon_id, error = %e.chain(), "attaching an add-on goes on in the background");
        }
        let id = addon_id.to_string();
        let view = self
            .db
            .run(move |c| {
                let addon = Addon::by_id(c, &id)?;
                addon_view(c, &addon)
            })
            .await?;
        match AddonState::parse(&view.state) {
            Some(AddonState::Failed) => Err(Error::Backend(format!("provisioning add-on {} failed", view.name))),
            Some(AddonState::Provisioned) => Ok(AddonCreated::Provisioned(view)),
            _ => Ok(AddonCreated::Provisioning(view)),
        }
    }

    /// An add-on of an app the caller may use (owned or attached), as people name it (see
    /// `resolve_addon`), with the app.
    pub async fn addon_of_app(&self, app: AppRef, addon: AddonRef, actor: &Actor) -> Result<(Addon, App)> {
        let actor = actor.clone();
        self.db
            .run(move |c| {
                let a = app_for(c, app.as_str(), &actor, Role::Collaborator)?;
                let found = resolve_addon(c, &a, addon.as_str(), Reach::OnApp, &actor)?;
                Ok((found, a))
            })
            .await
    }

    /// Add-ons: those of every app the caller may use, or one app's (owned or attached).
    pub async fn list_addons(&self, app: Option<String>, actor: &Actor) -> Result<Vec<AddonView>> {
        let actor = actor.clone();
        self.db
            .run(move |c| {
                let list = match app {
                    None if actor.is_admin() => Addon::all(c)?,
                    None => {
                        let ids: Vec<String> = visible_apps(c, &actor)?.into_iter().map(|a| a.id).collect();
                        Addon::of_apps(c, &ids)?
                    }
                    Some(app) => {
                        let a = app_for(c, &app, &actor, Role::Collaborator)?;
                        let attached: Vec<String> =
                            Attachment::of_app(c, &a.id)?.into_iter().map(|x| x.addon_id).collect();
                        Addon::owned_or_listed(c, &a.id, &attached)?
                    }
                };
                list.iter().map(|a| addon_view(c, a)).collect()
            })
            .await
    }

    /// 403 unless the caller may use the app that owns `addon`, not only one it is attached
    /// to: changing an add-on, or opening its dashboard, is for its own app's people.
    pub async fn check_owning_app(&self, addon: &Addon, actor: &Actor) -> Result<()> {
        let (row, actor) = (addon.clone(), actor.clone());
        let role = self.db.run(move |c| role_on_owner(c, &row, &actor)).await?;
        match role {
            Some(_) => Ok(()),
            None => Err(Error::Forbidden(format!(
                "add-on {} belongs to another app; only people with access to that app may do this",
                addon.name
            ))),
        }
    }

    /// One add-on of an app the caller may use (owned or attached), by name, id, attachment
    /// name or service name.
    pub async fn get_addon(&self, app: AppRef, addon: AddonRef, actor: &Actor) -> Result<AddonView> {
        let actor = actor.clone();
        self.db
            .run(move |c| {
                let a = app_for(c, app.as_str(), &actor, Role::Collaborator)?;
                let addon = resolve_addon(c, &a, addon.as_str(), Reach::OnApp, &actor)?;
                addon_view(c, &addon)
            })
            .await
    }

    /// An add-on of the app that owns it: 422 when the app only has it attached.
    async fn owned_addon(&self, app: AppRef, addon: AddonRef, actor: &Actor) -> Result<AddonView> {
        let view = self.get_addon(app.clone(), addon, actor).await?;
        if view.app.id != app.as_str() && view.app.name != app.as_str() {
            return Err(Error::Unprocessable(format!(
                "add-on {} belongs to app {}; change or destroy it there",
                view.name, view.app.name
            )));
        }
        Ok(view)
    }

    /// Changes an add-on's plan (same service).
    pub async fn change_plan(&self, app: AppRef, addon: AddonRef, plan: String, actor: &Actor) -> Result<AddonView> {
        load_app(&self.db, app.as_str(), actor, Role::Collaborator).await?;
        let resolved = self.resolve_plan(&plan)?;
        let current = self.owned_addon(app, addon, actor).await?;
        if current.service != resolved.service {
            return Err(Error::Unprocessable(format!(
                "add-on {} is a {} add-on; it cannot move to {}",
                current.name,
                current.service,
                clip(&plan)
            )));
        }
        let input = UpdateInput {
            instance_id: current.id.clone(),
            service_id: resolved.service_id,
            plan_id: Some(resolved.plan_id),
            parameters: None,
            context: None,
            maintenance_version: None,
            accepts_incomplete: false,
        };
        self.provisioning.update(input, actor.meta()).await?;
        let (id, actor2, plan_name) = (current.id.clone(), actor.clone(), resolved.plan);
        self.db
            .write(move |c| {
                Addon::set_plan(c, &id, &plan_name, Some(now_ms()))?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.addon.update",
                    format!("addon/{id}"),
                    json!({ "plan": plan_name }),
                )?;
                let addon = Addon::find(c, &id)?;
                addon_view(c, &addon)
            })
            .await
    }

    /// Destroys an add-on of the app that owns it.
    pub async fn delete_addon(&self, app: AppRef, addon: AddonRef, actor: &Actor) -> Result<AddonView> {
        let view = self.owned_addon(app, addon, actor).await?;
        let id = view.id.clone();
        let addon = self.db.run(move |c| Addon::find(c, &id)).await?;
        self.destroy_addon(addon, actor).await?;
        Ok(view)
    }
}
