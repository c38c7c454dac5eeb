//! Apps: create (with the first release), list, show, rename, delete (destroying the app's own
//! add-ons and detaching others' from it).

use std::collections::BTreeMap;

use serde_json::json;

use super::domain::{unique_violation, Actor, Platform};
use super::names::{lower_random, validate_app_name};
use super::releases::write_release;
use super::views::{iso, AppView};
use crate::db::models::{Addon, App, Attachment};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::ids::AppId;
use crate::provisioning::audit;

/// An app by id or name; 404 when there is none.
pub(crate) fn find_app(c: &mut DbConnection, id_or_name: &str) -> Result<App> {
    App::find(c, id_or_name)
}

fn app_view(app: &App) -> AppView {
    AppView {
        id: app.id.clone(),
        name: app.name.clone(),
        owner: app.owner.clone(),
        created_at: iso(app.created_at),
        updated_at: iso(app.updated_at),
    }
}

impl Platform {
    /// Creates an app (and its first release, with no config vars).
    pub async fn create_app(&self, name: Option<String>, actor: &Actor) -> Result<AppView> {
        let generated = name.is_none();
        let name = name.unwrap_or_else(|| format!("app-{}", lower_random(8)));
        validate_app_name(&name)?;
        let (sealer, actor2) = (self.sealer.clone(), actor.clone());
        let result = self
            .db
            .write(move |c| {
                let now = now_ms();
                let app = App {
                    id: AppId::random().into_string(),
                    name: name.clone(),
                    owner: actor2.sub.clone(),
                    created_at: now,
                    updated_at: now,
                };
                app.insert(c)?;
                write_release(c, &sealer, &app.id, "Initial release".into(), &BTreeMap::new(), &actor2)?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.app.create",
                    format!("app/{}", app.id),
                    json!({ "name": app.name }),
                )?;
                Ok(app)
            })
            .await;
        match result {
            Ok(app) => Ok(app_view(&app)),
            Err(e) if unique_violation(&e) && !generated => Err(Error::Conflict("that app name is taken".into())),
            Err(e) => Err(e),
        }
    }

    /// Lists apps, by name.
    pub async fn list_apps(&self) -> Result<Vec<AppView>> {
        let apps = self.db.run(App::all).await?;
        Ok(apps.iter().map(app_view).collect())
    }

    /// One app, by id or name.
    pub async fn get_app(&self, app: String) -> Result<AppView> {
        let app = self.db.run(move |c| App::find(c, &app)).await?;
        Ok(app_view(&app))
    }

    /// Renames an app.
    pub async fn rename_app(&self, app: String, name: String, actor: &Actor) -> Result<AppView> {
        validate_app_name(&name)?;
        let actor = actor.clone();
        let result = self
            .db
            .write(move |c| {
                let mut a = App::find(c, &app)?;
                a.name = name.clone();
                a.updated_at = now_ms();
                a.save(c)?;
                audit(
                    c,
                    &actor.meta(),
                    "platform.app.rename",
                    format!("app/{}", a.id),
                    json!({ "name": a.name }),
                )?;
                Ok(a)
            })
            .await;
        match result {
            Ok(a) => Ok(app_view(&a)),
            Err(e) if unique_violation(&e) => Err(Error::Conflict("that app name is taken".into())),
            Err(e) => Err(e),
        }
    }

    /// Deletes an app. With add-ons attached, `confirm` must repeat the app's name; then its
    /// own add-ons are destroyed and other apps' add-ons detached from it.
    pub async fn delete_app(&self, app: String, confirm: Option<String>, actor: &Actor) -> Result<AppView> {
        let (a, own, attached) = self
            .db
            .run(move |c| {
                let a = App::find(c, &app)?;
                let own = Addon::owned_by(c, &a.id)?;
                let attached = Attachment::of_app(c, &a.id)?;
                Ok((a, own, attached))
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
        Ok(app_view(&a))
    }
}
