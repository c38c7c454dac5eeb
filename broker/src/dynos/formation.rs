//! The formation: how many dynos of each process type an app runs, and how big; it follows
//! the process types of each new slug.

use serde_json::json;

use crate::access::{app_for, Role};
use crate::catalog::clip;
use crate::db::models::{App, Formation, Release, Slug};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::platform::{current_release, iso, Actor, NameRef};
use crate::provisioning::audit;
use crate::slugs::{self as archive, ProcessTypes};

use super::containers::type_order;
use super::launch::{size, SIZES};
use super::manager::Dynos;
use super::views::{FormationUpdate, FormationView};

impl Dynos {
    async fn formation_rows(&self, app: String, actor: &Actor) -> Result<(App, Vec<Formation>, ProcessTypes)> {
        let actor = actor.clone();
        self.inner
            .db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let rows = Formation::of_app(c, &a.id)?;
                let types = current_types(c, &a.id)?;
                Ok((a, rows, types))
            })
            .await
    }

    /// An app's formation, `web` first.
    pub async fn formation(&self, app: String, actor: &Actor) -> Result<Vec<FormationView>> {
        let (a, mut rows, types) = self.formation_rows(app, actor).await?;
        rows.sort_by_key(|f| type_order(&f.process_type));
        Ok(rows.into_iter().map(|f| formation_view(&a, f, &types)).collect())
    }

    /// One process type's formation.
    pub async fn formation_of(&self, app: String, process_type: String, actor: &Actor) -> Result<FormationView> {
        let (a, rows, types) = self.formation_rows(app, actor).await?;
        rows.into_iter()
            .find(|f| f.process_type == process_type)
            .map(|f| formation_view(&a, f, &types))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no process type {} in the formation of app {}",
                    clip(&process_type),
                    a.name
                ))
            })
    }

    /// Applies formation changes, all or none; returns the changed entries.
    pub async fn update_formation(
        &self,
        app: String,
        updates: Vec<FormationUpdate>,
        actor: &Actor,
    ) -> Result<Vec<FormationView>> {
        self.runtime()?;
        validate_updates(&updates, self.inner.settings.max_quantity)?;
        let actor2 = actor.clone();
        let (a, changed, types) = self
            .inner
            .db
            .write(move |c| {
                let a = app_for(c, &app, &actor2, Role::Collaborator)?;
                let types = current_types(c, &a.id)?;
                if !Release::any_with_code(c, &a.id)? {
                    return Err(Error::Unprocessable(format!(
                        "app {} has no build yet: deploy code before scaling",
                        a.name
                    )));
                }
                let changed = apply_updates(c, &a, &updates)?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.formation.update",
                    format!("app/{}", a.id),
                    json!(changed
                        .iter()
                        .map(|f| json!({"type": f.process_type, "quantity": f.quantity, "size": f.size}))
                        .collect::<Vec<_>>()),
                )?;
                Ok((a, changed, types))
            })
            .await?;
        for f in &changed {
            self.log(
                &a.id,
                "broker",
                &f.process_type,
                format!("Scaled to {}@{}:{}", f.process_type, f.quantity, f.size),
            );
        }
        self.inner.wake.notify_one();
        Ok(changed.into_iter().map(|f| formation_view(&a, f, &types)).collect())
    }
}

/// Checks formation updates before the store is read: each names a valid type and changes a
/// quantity in range or a known size.
fn validate_updates(updates: &[FormationUpdate], max: i32) -> Result<()> {
    if updates.is_empty() {
        return Err(Error::BadRequest("updates must name at least one process type".into()));
    }
    for u in updates {
        let t = u
            .process_type
            .as_deref()
            .ok_or_else(|| Error::BadRequest("every update needs a \"type\"".into()))?;
        if !archive::valid_process_type(t) {
            return Err(Error::BadRequest(format!("process type {} is not valid", clip(t))));
        }
        if u.quantity.is_none() && u.size.is_none() {
            return Err(Error::BadRequest(format!(
                "the update of {t} changes neither quantity nor size"
            )));
        }
        if let Some(q) = u.quantity {
            if !(0..=max).contains(&q) {
                return Err(Error::Unprocessable(format!(
                    "quantity of {t} must be 0 to {max}; got {q}"
                )));
            }
        }
        if let Some(s) = &u.size {
            size(s)?;
        }
    }
    Ok(())
}

/// Writes validated updates to the app's formation rows; a type the Procfile lacks is a 404.
fn apply_updates(c: &mut DbConnection, a: &App, updates: &[FormationUpdate]) -> Result<Vec<Formation>> {
    let mut changed = Vec::new();
    for u in updates {
        let t = u.process_type.clone().unwrap_or_default();
        let mut f = Formation::find_type(c, &a.id, &t)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no process type {} in the Procfile of app {}",
                clip(&t),
                a.name
            ))
        })?;
        if let Some(q) = u.quantity {
            f.quantity = q;
        }
        if let Some(s) = &u.size {
            f.size = s.clone();
        }
        f.updated_at = now_ms();
        f.save(c)?;
        changed.push(f);
    }
    Ok(changed)
}

/// A formation entry as the API shows it, with its command in the current release.
fn formation_view(a: &App, f: Formation, types: &ProcessTypes) -> FormationView {
    FormationView {
        command: types.get(&f.process_type).cloned().unwrap_or_default(),
        id: f.id,
        process_type: f.process_type,
        quantity: f.quantity,
        size: f.size,
        app: NameRef {
            id: a.id.clone(),
            name: a.name.clone(),
        },
        created_at: iso(f.created_at),
        updated_at: iso(f.updated_at),
    }
}

/// The current release's process types (empty before the first build).
pub(super) fn current_types(c: &mut DbConnection, app_id: &str) -> Result<ProcessTypes> {
    let Some(sid) = current_release(c, app_id)?.and_then(|r| r.slug_id) else {
        return Ok(ProcessTypes::new());
    };
    Ok(Slug::find(c, &sid)?.map(|s| s.commands()).unwrap_or_default())
}

/// Makes the formation follow a new slug's process types: new types get a row (`web` one
/// dyno, others none, as on Heroku), vanished types lose theirs.
pub(super) fn sync_formation(c: &mut DbConnection, app_id: &str, types: &ProcessTypes) -> Result<()> {
    let rows = Formation::of_app(c, app_id)?;
    for f in &rows {
        if !types.contains_key(&f.process_type) {
            Formation::delete(c, &f.id)?;
        }
    }
    let now = now_ms();
    for t in types.keys().filter(|t| *t != "release") {
        if rows.iter().any(|f| f.process_type == *t) {
            continue;
        }
        Formation::insert(
            c,
            &Formation {
                id: uuid::Uuid::new_v4().to_string(),
                app_id: app_id.to_string(),
                process_type: t.clone(),
                quantity: i32::from(t == "web"),
                size: SIZES[0].name.into(),
                created_at: now,
                updated_at: now,
            },
        )?;
    }
    Ok(())
}
