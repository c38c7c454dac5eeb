//! Attachments: an add-on bound to an app under a config var prefix. Attaching binds (OSB) and
//! releases the binding's credentials as config vars, exactly once; detaching unbinds and
//! releases the config without them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::addon_refs::{no_such_addon, resolve_addon, role_on_owner, Reach};
use super::domain::{Actor, Platform};
use super::names::{default_attachment_name, validate_attachment_name};
use super::plans::requires;
use super::releases::write_release;
use super::views::{iso, AttachmentView, NameRef};
use crate::access::{app_for, role_of, visible_apps, Role};
use crate::catalog::{clip, Catalog};
use crate::crypto::Sealer;
use crate::db::models::{Addon, AddonState, App, Attachment, AttachmentState, Instance, Release};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::ids::{AddonId, AddonRef, AppId, AppRef, AttachmentId};
use crate::provisioning::{audit, BindInput, Reply};

/// The view of an attachment (names of its add-on and app looked up).
fn attachment_view(c: &mut DbConnection, att: &Attachment) -> Result<AttachmentView> {
    let addon = Addon::get(c, &att.addon_id)?;
    let app = App::get(c, &att.app_id)?;
    Ok(AttachmentView {
        id: att.id.clone(),
        name: att.name.clone(),
        addon: NameRef {
            id: att.addon_id.clone(),
            name: addon.map(|a| a.name).unwrap_or_default(),
        },
        app: NameRef {
            id: att.app_id.clone(),
            name: app.map(|a| a.name).unwrap_or_default(),
        },
        state: att.state.clone(),
        created_at: iso(att.created_at),
    })
}

/// Inside one transaction: moves a pending attachment to `attached` with the vars of `env`
/// (suffixes, prefixed by its name) and writes the release that publishes them. `false` when
/// the attachment is gone or was detached meanwhile (nothing is published then).
fn publish_attachment(
    c: &mut DbConnection,
    sealer: &Sealer,
    att_id: &str,
    env: &BTreeMap<String, String>,
    addon_name: &str,
    actor: &Actor,
) -> Result<bool> {
    let Some(mut current) = Attachment::get(c, att_id)? else {
        return Ok(false);
    };
    if !current.is(AttachmentState::Pending) {
        return Ok(current.is(AttachmentState::Attached));
    }
    let (_, mut config) = Release::current_config(c, sealer, &current.app_id)?;
    let managed: BTreeSet<String> = Attachment::of_app(c, &current.app_id)?
        .iter()
        .filter(|a| a.id != current.id)
        .flat_map(Attachment::var_names)
        .collect();
    let mut names = Vec::new();
    let mut overwrote = Vec::new();
    for (suffix, value) in env {
        let var = format!("{}_{suffix}", current.name);
        if managed.contains(&var) {
            return Err(Error::Conflict(format!(
                "config var {var} belongs to another attachment"
            )));
        }
        if config.contains_key(&var) {
            overwrote.push(var.clone());
        }
        config.insert(var.clone(), value.clone());
        names.push(var);
    }
    current.state = AttachmentState::Attached.as_str().into();
    current.vars = json!(names).to_string();
    current.updated_at = now_ms();
    current.save(c)?;
    let mut description = format!("Attach {} ({addon_name})", current.name);
    if !overwrote.is_empty() {
        description.push_str(&format!("; replaced user-set {}", overwrote.join(", ")));
    }
    write_release(c, sealer, &current.app_id, description, &config, actor)?;
    Ok(true)
}

/// Inside one transaction: writes a new `pending` attachment of an add-on (by name or id, or an
/// attachment or service name on the app: see `resolve_addon`) to an app, after checking that
/// the add-on is provisioned, that its provider lets it be attached to this app, and that the
/// name is free. Returns the add-on and the attachment.
fn write_new_attachment(
    c: &mut DbConnection,
    catalog: &Catalog,
    addon: &str,
    app: &str,
    name: Option<String>,
    actor: &Actor,
) -> Result<(Addon, Attachment)> {
    let a = app_for(c, app, actor, Role::Collaborator)?;
    let addon_ref = addon;
    let addon = resolve_addon(c, &a, addon_ref, Reach::Anywhere, actor)?;
    // Sharing an add-on's data with another app is its owner's decision: a collaborator who
    // did it could keep the data after losing access. Another tenant's add-on is as unknown
    // as one that does not exist.
    match role_on_owner(c, &addon, actor)? {
        None => return Err(no_such_addon(addon_ref, &a)),
        Some(role) if addon.app_id != a.id && role < Role::Owner => {
            return Err(Error::Forbidden(format!(
                "only the owner of the app that owns add-on {} (or an admin of its team) may attach it to other apps",
                addon.name
            )))
        }
        Some(_) => {}
    }
    if !addon.is(AddonState::Provisioned) {
        return Err(Error::Unprocessable(format!(
            "add-on {} is {}",
            addon.name, addon.state
        )));
    }
    let metadata = Instance::find(c, &addon.id)?
        .and_then(|i| catalog.provider(&i.service_id).map(|p| p.service().metadata.clone()));
    let attachable = requires(&metadata).is_none_or(|r| r.contains(&"attachable".to_string()));
    if !attachable && a.id != addon.app_id {
        return Err(Error::Unprocessable(format!(
            "add-on {} cannot be attached to other apps: its provider does not allow it (no attachable)",
            addon.name
        )));
    }
    let name = name.unwrap_or_else(|| default_attachment_name(&addon.service, metadata.as_ref()));
    let taken = Attachment::of_app(c, &a.id)?.iter().any(|x| x.name == name);
    if taken {
        return Err(Error::Conflict(format!(
            "attachment name {name} is already used in app {}",
            a.name
        )));
    }
    let (addon_id, app_id) = (AddonId::from(addon.id.as_str()), AppId::from(a.id.as_str()));
    let att = Attachment::pending(AttachmentId::random(), &addon_id, &app_id, name, now_ms());
    att.insert(c)?;
    audit(
        c,
        &actor.meta(),
        "platform.attachment.create",
        format!("attachment/{}", att.id),
        json!({ "addon": addon.name, "app": a.name, "name": att.name }),
    )?;
    Ok((addon, att))
}

impl Platform {
    /// Binds a pending attachment and releases its config vars, exactly once.
    pub(super) async fn attach(&self, addon: &Addon, att: Attachment, actor: &Actor) -> Result<()> {
        let (service_id, plan_id) = self.instance_ids(addon).await?;
        let input = BindInput {
            instance_id: addon.id.clone(),
            binding_id: att.id.clone(),
            service_id: service_id.clone(),
            plan_id: plan_id.clone(),
            context: json!({ "platform": "addon-broker" }),
            bind_resource: json!({ "app_guid": att.app_id }),
            parameters: json!({}),
            accepts_incomplete: false,
        };
        let view = match self.provisioning.bind(input, actor.meta()).await? {
            Reply::Created(v) | Reply::Exists(v) => v,
            Reply::Accepted(_) => return Ok(()),
        };
        let (sealer, actor2, addon_name) = (self.sealer.clone(), actor.clone(), addon.name.clone());
        let att_id = att.id.clone();
        let published = self
            .db
            .write(move |c| publish_attachment(c, &sealer, &att_id, &view.env, &addon_name, &actor2))
            .await?;
        if !published {
            // The attachment was detached while this bind ran: take the binding back so no
            // credentials outlive it.
            let (addon_id, att_id) = (AddonId::from(addon.id.as_str()), AttachmentId::from(att.id));
            self.unbind_if_bound(&addon_id, &att_id, service_id, plan_id, actor)
                .await?;
        }
        Ok(())
    }

    /// Unbinds an attachment's binding; a binding that is already gone is fine.
    async fn unbind_if_bound(
        &self,
        addon_id: &AddonId,
        attachment_id: &AttachmentId,
        service_id: String,
        plan_id: String,
        actor: &Actor,
    ) -> Result<()> {
        let result = self
            .provisioning
            .unbind(
                addon_id.to_string(),
                attachment_id.to_string(),
                service_id,
                plan_id,
                false,
                actor.meta(),
            )
            .await;
        match result {
            Ok(_) | Err(Error::Gone(_)) | Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Unbinds a group of attachments of one app and removes their config vars in one release.
    pub(super) async fn detach_group(&self, group: Vec<Attachment>, actor: &Actor) -> Result<()> {
        let ids: Vec<String> = group.iter().map(|a| a.id.clone()).collect();
        {
            let ids = ids.clone();
            self.db
                .write(move |c| Attachment::set_state_many(c, &ids, AttachmentState::Detaching))
                .await?;
        }
        let mut names = Vec::new();
        for att in &group {
            let addon_id = att.addon_id.clone();
            let addon = self.db.run(move |c| Addon::by_id(c, &addon_id)).await?;
            let (service_id, plan_id) = self.instance_ids(&addon).await?;
            let (addon_id, att_id) = (AddonId::from(addon.id.as_str()), AttachmentId::from(att.id.as_str()));
            self.unbind_if_bound(&addon_id, &att_id, service_id, plan_id, actor)
                .await?;
            names.push(format!("{} ({})", att.name, addon.name));
        }
        let (sealer, actor2) = (self.sealer.clone(), actor.clone());
        let Some(app_id) = group.first().map(|a| a.app_id.clone()) else {
            return Ok(());
        };
        self.db
            .write(move |c| {
                let atts = Attachment::get_many(c, &ids)?;
                if atts.is_empty() {
                    return Ok(());
                }
                let (_, mut config) = Release::current_config(c, &sealer, &app_id)?;
                let mut removed = false;
                for att in &atts {
                    for var in att.var_names() {
                        removed |= config.remove(&var).is_some();
                    }
                }
                Attachment::delete_many(c, &ids)?;
                if removed {
                    let description = format!("Detach {}", names.join(", "));
                    write_release(c, &sealer, &app_id, description, &config, &actor2)?;
                }
                Ok(())
            })
            .await
    }

    /// Attaches an existing add-on to an app with its own binding.
    pub async fn create_attachment(
        &self,
        addon: AddonRef,
        app: AppRef,
        name: Option<String>,
        actor: &Actor,
    ) -> Result<AttachmentView> {
        if let Some(n) = &name {
            validate_attachment_name(n)?;
        }
        let actor2 = actor.clone();
        let catalog = self.provisioning.catalog();
        let (addon_row, att) = self
            .db
            .write(move |c| write_new_attachment(c, &catalog, addon.as_str(), app.as_str(), name.clone(), &actor2))
            .await?;
        let id = att.id.clone();
        self.attach(&addon_row, att, actor).await?;
        self.db
            .run(move |c| {
                let att = Attachment::get(c, &id)?
                    .ok_or_else(|| Error::NotFound("the attachment was removed meanwhile".into()))?;
                attachment_view(c, &att)
            })
            .await
    }

    /// The attachments to every app the caller may use (to every app, for an admin), and those
    /// of the add-ons such apps own, wherever they are attached.
    pub async fn list_all_attachments(&self, actor: &Actor) -> Result<Vec<AttachmentView>> {
        let actor = actor.clone();
        self.db
            .run(move |c| {
                let ids: Vec<String> = visible_apps(c, &actor)?.into_iter().map(|a| a.id).collect();
                // Also where the caller's add-ons are attached: their data, wherever it went.
                let mine: Vec<String> = Addon::owned_by_any(c, &ids)?.into_iter().map(|a| a.id).collect();
                let mut list = Attachment::of_apps(c, &ids)?;
                for extra in Attachment::of_addons(c, &mine)? {
                    if !list.iter().any(|x| x.id == extra.id) {
                        list.push(extra);
                    }
                }
                list.sort_by(|x, y| x.name.cmp(&y.name).then_with(|| x.id.cmp(&y.id)));
                list.iter().map(|x| attachment_view(c, x)).collect()
            })
            .await
    }

    /// An app's attachments.
    pub async fn list_attachments(&self, app: String, actor: &Actor) -> Result<Vec<AttachmentView>> {
        let actor = actor.clone();
        self.db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let mut list = Attachment::of_app(c, &a.id)?;
                list.sort_by(|x, y| x.name.cmp(&y.name));
                list.iter().map(|x| attachment_view(c, x)).collect()
            })
            .await
    }

    /// Detaches one attachment: unbinds it (its credentials stop working) and removes its vars.
    pub async fn delete_attachment(&self, id: String, actor: &Actor) -> Result<AttachmentView> {
        let att = {
            let (id, actor) = (id.clone(), actor.clone());
            self.db
                .run(move |c| {
                    let missing = || Error::NotFound(format!("attachment {} does not exist", clip(&id)));
                    let att = Attachment::get(c, &id)?.ok_or_else(missing)?;
                    // Detaching needs access to the app it is attached to, or to the app that
                    // owns the add-on (whose people may always take their data back); without
                    // either, the attachment is as unknown as one that does not exist.
                    let on_app = App::get(c, &att.app_id)?
                        .map(|a| role_of(c, &a, &actor))
                        .transpose()?
                        .flatten();
                    let addon = Addon::get(c, &att.addon_id)?;
                    let on_owner = match &addon {
                        Some(addon) => role_on_owner(c, addon, &actor)?,
                        None => None,
                    };
                    if on_app.is_none() && on_owner.is_none() {
                        return Err(missing());
                    }
                    Ok(att)
                })
                .await?
        };
        let view = {
            let att = att.clone();
            self.db.run(move |c| attachment_view(c, &att)).await?
        };
        self.detach_group(vec![att], actor).await?;
        Ok(view)
    }
}
