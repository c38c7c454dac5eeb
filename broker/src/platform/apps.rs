//! Apps: create (with the first release; personal or a team's), list what the caller may see,
//! show, update (rename, transfer), delete (destroying the app's own add-ons and detaching
//! others' from it). Reads need access to the app; updates and deletion need its owner.

use std::collections::BTreeMap;

use serde_json::json;

use super::domain::{Actor, Platform};
use super::hostnames::AppHosts;
use super::names::{lower_random, validate_app_name};
use super::releases::write_release;
use super::views::{iso, AppView, NameRef};
use crate::access::{app_for, team_for, transfer, visible_apps, Role, Transfer};
use crate::db::models::{Addon, App, Attachment, Team};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::ids::AppId;
use crate::provisioning::audit;

/// What `PATCH /apps/{app}` changes: any of the name and the owner (a person or a team).
#[derive(Debug, Clone, Default)]
pub struct AppChange {
    /// New name.
    pub name: Option<String>,
    /// Transfer to this person or team.
    pub to: Option<Transfer>,
}

impl AppChange {
    /// What `PATCH /apps/{app}` asks: a new name and/or a new owner, a person or a team but
    /// not both; asking for nothing is a 400.
    pub fn new(name: Option<String>, owner: Option<String>, team: Option<String>) -> Result<AppChange> {
        let to = match (owner, team) {
            (Some(_), Some(_)) => return Err(Error::BadRequest("give owner or team, not both".into())),
            (Some(person), None) => Some(Transfer::Person(person)),
            (None, Some(team)) => Some(Transfer::Team(team)),
            (None, None) => None,
        };
        if name.is_none() && to.is_none() {
            return Err(Error::BadRequest("give a new name, owner or team".into()));
        }
        Ok(AppChange { name, to })
    }
}

/// The view of an app; its `web_url` is where `hosts` says the router serves it.
pub(super) fn app_view(c: &mut DbConnection, hosts: &AppHosts, app: &App) -> Result<AppView> {
    let team = match &app.team_id {
        Some(id) => Team::get(c, id)?.map(|t| NameRef { id: t.id, name: t.name }),
        None => None,
    };
    Ok(AppView {
        id: app.id.clone(),
        name: app.name.clone(),
        owner: app.owner.clone(),
        team,
        web_url: hosts.web_url(&app.name),
        created_at: iso(app.created_at),
        updated_at: iso(app.updated_at),
    })
}

impl Platform {
    /// Creates an app (and its first release, with no config vars), the caller's or, with
    /// `team`, a team's they belong to.
    pub async fn create_app(&self, name: Option<String>, team: Option<String>, actor: &Actor) -> Result<AppView> {
        let generated = name.is_none();
        let name = name.unwrap_or_else(|| format!("app-{}", lower_random(8)));
        validate_app_name(&name)?;
        let (sealer, actor2, hosts) = (self.sealer.clone(), actor.clone(), self.hosts.clone());
        let result = self
            .db
            .write(move |c| {
                let team_id = match &team {
                    Some(t) => Some(team_for(c, t, &actor2)?.0.id),
                    None => None,
                };
                let now = now_ms();
                let app = App {
                    id: AppId::random().into_string(),
                    name: name.clone(),
                    owner: actor2.sub.clone(),
                    created_at: now,
                    updated_at: now,
                    team_id,
                };
                app.insert(c)?;
                write_release(c, &sealer, &app.id, "Initial release".into(), &BTreeMap::new(), &actor2)?;
                let detail = json!({ "name": app.name, "team": app.team_id });
                audit(
                    c,
                    &actor2.meta(),
                    "platform.app.create",
                    format!("app/{}", app.id),
                    detail,
                )?;
                app_view(c, &hosts, &app)
            })
            .await;
        match result {
            Err(e) if e.is_unique_violation() && !generated => Err(Error::Conflict("that app name is taken".into())),
            other => other,
        }
    }

    /// The apps the caller may see, by name.
    pub async fn list_apps(&self, actor: &Actor) -> Result<Vec<AppView>> {
        let (actor, hosts) = (actor.clone(), self.hosts.clone());
        self.db
            .run(move |c| {
                visible_apps(c, &actor)?
                    .iter()
                    .map(|a| app_view(c, &hosts, a))
                    .collect()
            })
            .await
    }

    /// One app, by id or name.
    pub async fn get_app(&self, app: String, actor: &Actor) -> Result<AppView> {
        let (actor, hosts) = (actor.clone(), self.hosts.clone());
        self.db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                app_view(c, &hosts, &a)
            })
            .await
    }

    /// Renames and/or transfers an app (its owner only), in one transaction.
    pub async fn update_app(&self, app: String, change: AppChange, actor: &Actor) -> Result<AppView> {
        if let Some(name) = &change.name {
            validate_app_name(name)?;
        }
        let (actor, hosts) = (actor.clone(), self.hosts.clone());
        let result = self
            .db
            .write(move |c| {
                let mut a = app_for(c, &app, &actor, Role::Owner)?;
                if let Some(to) = &change.to {
                    transfer(c, &mut a, to, &actor)?;
                }
                if let Some(name) = &change.name {
                    a.name = name.clone();
                    a.updated_at = now_ms();
                    a.save(c)?;
                }
                let detail = json!({ "name": a.name, "owner": a.owner, "team": a.team_id });
                audit(c, &actor.meta(), "platform.app.update", format!("app/{}", a.id), detail)?;
                app_view(c, &hosts, &a)
            })
            .await;
        match result {
            Err(e) if e.is_unique_violation() => Err(Error::Conflict("that app name is taken".into())),
            other => other,
        }
    }

    /// Deletes an app (its owner only). With add-ons attached, `confirm` must repeat the app's
    /// name; then its own add-ons are destroyed and other apps' add-ons detached from it.
    pub async fn delete_app(&self, app: String, confirm: Option<String>, actor: &Actor) -> Result<AppView> {
        let (actor2, hosts) = (actor.clone(), self.hosts.clone());
        let (view, a, own, attached) = self
            .db
            .run(move |c| {
                let a = app_for(c, &app, &actor2, Role::Owner)?;
                let own = Addon::owned_by(c, &a.id)?;
                let attached = Attachment::of_app(c, &a.id)?;
                Ok((app_view(c, &hosts, &a)?, a, own, attached))
            })
            .await?;
        if (!own.is_empty() || !attached.is_empty()) && confirm.as_deref() != Some(a.name.as_str()) {
            return Err(Error::Conflict(format!(
                "app {} has add-ons; to destroy it and them, repeat its name in \"confirm\"",
                a.name
            )));
        }
        for addon in own {
            self.destroy_addon(addon, actor).await?;
        }
        let left = {
            let id = a.id.clone();
            self.db.run(move |c| Attachment::of_app(c, &id)).await?
        };
        if !left.is_empty() {
            self.detach_group(left, actor).await?;
        }
        let (id, actor2) = (a.id.clone(), actor.clone());
        self.db
            .write(move |c| {
                // The caller must still own it: it may have been transferred meanwhile.
                app_for(c, &id, &actor2, Role::Owner)?;
                // An add-on created or attached since the check above keeps the app alive.
                if Addon::count_owned_by(c, &id)? > 0 || !Attachment::of_app(c, &id)?.is_empty() {
                    return Err(Error::Conflict(
                        "the app gained an add-on meanwhile; delete again to confirm".into(),
                    ));
                }
                // Dynos of a deleted app are stopped by the dyno manager, which finds no app for
                // them; slug directories without a row are collected by it too.
                App::delete(c, &id)?;
                audit(c, &actor2.meta(), "platform.app.delete", format!("app/{id}"), json!({}))
            })
            .await?;
        Ok(view)
    }
}
