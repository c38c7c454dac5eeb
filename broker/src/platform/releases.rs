//! Config vars and releases: every config change is a new release, a sealed snapshot with the
//! next version; the current config is the latest release's. Rollbacks are releases too.

use std::collections::BTreeMap;

use serde_json::json;

use super::domain::{Actor, Platform};
use super::names::validate_var_name;
use super::views::{iso, IdRef, NameRef, ReleaseView};
use crate::access::{app_for, Role};
use crate::catalog::clip;
use crate::crypto::Sealer;
use crate::db::models::{App, ConfigSealer, Release, RELEASE_SUCCEEDED};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::ids::AppId;
use crate::provisioning::audit;

impl ConfigSealer for Sealer {
    fn seal_config(&self, plain: &[u8], context: &str) -> Result<Vec<u8>> {
        self.seal(plain, context)
    }

    fn open_config(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>> {
        self.open(sealed, context)
    }
}

/// An app's latest release, if it has one.
pub(crate) fn latest_release(c: &mut DbConnection, app_id: &str) -> Result<Option<Release>> {
    Release::latest(c, app_id)
}

/// An app's current release: the latest that succeeded (its release phase, if it has one),
/// which is the one the dynos run.
pub(crate) fn current_release(c: &mut DbConnection, app_id: &str) -> Result<Option<Release>> {
    Release::current(c, app_id)
}

/// A release's config vars, unsealed.
pub(crate) fn open_config(sealer: &Sealer, r: &Release) -> Result<BTreeMap<String, String>> {
    r.open_config(sealer)
}

/// Writes the next release of an app with `config` and `slug_id`.
pub(crate) fn insert_release(
    c: &mut DbConnection,
    sealer: &Sealer,
    app_id: &str,
    description: String,
    config: &BTreeMap<String, String>,
    actor: &Actor,
    slug_id: Option<String>,
) -> Result<Release> {
    Release::write_next(
        c,
        sealer,
        &AppId::from(app_id),
        description,
        config,
        &actor.sub,
        slug_id,
    )
}

/// Writes the next release of an app with `config` and the current release's slug; the
/// caller's transaction makes it atomic.
pub(super) fn write_release(
    c: &mut DbConnection,
    sealer: &Sealer,
    app_id: &str,
    description: String,
    config: &BTreeMap<String, String>,
    actor: &Actor,
) -> Result<Release> {
    Release::write_next_same_slug(c, sealer, &AppId::from(app_id), description, config, &actor.sub)
}

/// An app the caller may use, one of its releases (by id or version) and its current version
/// (0 when none succeeded), read after the release: a status only moves from `pending` to its
/// verdict, so a release read as `succeeded` is current unless a later one has succeeded too.
fn find_release(c: &mut DbConnection, app: &str, id_or_version: &str, actor: &Actor) -> Result<(App, Release, i32)> {
    let a = app_for(c, app, actor, Role::Collaborator)?;
    let r = Release::find_in_app(c, &AppId::from(a.id.as_str()), id_or_version)?.ok_or_else(|| {
        Error::NotFound(format!(
            "release {} of app {} does not exist",
            clip(id_or_version),
            a.name
        ))
    })?;
    let last = Release::current(c, &a.id)?.map_or(0, |r| r.version);
    Ok((a, r, last))
}

/// Applies config var changes (`Some` sets, `None` unsets) to `config`; returns the names
/// set and unset, leaving out changes that change nothing.
fn apply_changes(
    config: &mut BTreeMap<String, String>,
    changes: &BTreeMap<String, Option<String>>,
) -> (Vec<String>, Vec<String>) {
    let (mut set, mut unset) = (Vec::new(), Vec::new());
    for (k, v) in changes {
        match v {
            Some(v) if config.get(k) != Some(v) => {
                config.insert(k.clone(), v.clone());
                set.push(k.clone());
            }
            None if config.remove(k).is_some() => unset.push(k.clone()),
            _ => {}
        }
    }
    (set, unset)
}

/// The release description of a config change (`Set A, B config vars; Unset C config vars`).
fn change_description(set: &[String], unset: &[String]) -> String {
    let mut parts = Vec::new();
    if !set.is_empty() {
        parts.push(format!("Set {} config vars", set.join(", ")));
    }
    if !unset.is_empty() {
        parts.push(format!("Unset {} config vars", unset.join(", ")));
    }
    parts.join("; ")
}

impl Platform {
    /// The app's current config vars.
    pub async fn config_vars(&self, app: String, actor: &Actor) -> Result<BTreeMap<String, String>> {
        let (sealer, actor) = (self.sealer.clone(), actor.clone());
        self.db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                Ok(Release::current_config(c, &sealer, &a.id)?.1)
            })
            .await
    }

    /// Sets (`"value"`) and unsets (`null`) config vars; one release when anything changed,
    /// none otherwise. Returns the config after the change.
    pub async fn patch_config_vars(
        &self,
        app: String,
        changes: BTreeMap<String, Option<String>>,
        actor: &Actor,
    ) -> Result<BTreeMap<String, String>> {
        for (name, value) in &changes {
            validate_var_name(name)?;
            if value.as_deref().is_some_and(|v| v.contains('\0')) {
                return Err(Error::BadRequest(format!("config var {name} contains a NUL byte")));
            }
        }
        let (sealer, actor) = (self.sealer.clone(), actor.clone());
        self.db
            .write(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let (_, mut config) = Release::current_config(c, &sealer, &a.id)?;
                let (set, unset) = apply_changes(&mut config, &changes);
                if set.is_empty() && unset.is_empty() {
                    return Ok(config);
                }
                write_release(c, &sealer, &a.id, change_description(&set, &unset), &config, &actor)?;
                audit(
                    c,
                    &actor.meta(),
                    "platform.config_vars.update",
                    format!("app/{}", a.id),
                    json!({ "set": set, "unset": unset }),
                )?;
                Ok(config)
            })
            .await
    }

    fn release_view(&self, app: &App, r: &Release, current: bool) -> Result<ReleaseView> {
        let config = r.open_config(&self.sealer)?;
        Ok(ReleaseView {
            id: r.id.clone(),
            version: r.version,
            description: r.description.clone(),
            addon_plan_names: serde_json::from_str(&r.addon_plan_names).unwrap_or_default(),
            config_vars: config,
            current,
            status: r.status.clone(),
            created_at: iso(r.created_at),
            app: NameRef {
                id: app.id.clone(),
                name: app.name.clone(),
            },
            slug: r.slug_id.clone().map(|id| IdRef { id }),
        })
    }

    /// An app's releases, oldest first.
    pub async fn releases(&self, app: String, actor: &Actor) -> Result<Vec<ReleaseView>> {
        let actor = actor.clone();
        let (a, list) = self
            .db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let list = Release::of_app(c, &a.id)?;
                Ok((a, list))
            })
            .await?;
        // Current is the latest release that succeeded, not merely the latest.
        let last = list
            .iter()
            .rev()
            .find(|r| r.status == RELEASE_SUCCEEDED)
            .map(|r| r.version);
        list.iter()
            .map(|r| self.release_view(&a, r, Some(r.version) == last))
            .collect()
    }

    /// One release, by id or version.
    pub async fn release(&self, app: String, id_or_version: String, actor: &Actor) -> Result<ReleaseView> {
        let actor = actor.clone();
        let (a, r, last) = self
            .db
            .run(move |c| find_release(c, &app, &id_or_version, &actor))
            .await?;
        let current = r.status == RELEASE_SUCCEEDED && last <= r.version;
        self.release_view(&a, &r, current)
    }

    /// Rolls config vars and code back to a release's, as a new release (which runs its
    /// release phase first, like any other). A release without code (v1, or any made before
    /// the first build) is refused: rolling back to it would stop every dyno.
    pub async fn rollback(&self, app: String, release: String, actor: &Actor) -> Result<ReleaseView> {
        let (sealer, actor2) = (self.sealer.clone(), actor.clone());
        let (a, r) = self
            .db
            .write(move |c| {
                let (a, target, _) = find_release(c, &app, &release, &actor2)?;
                if target.slug_id.is_none() {
                    return Err(Error::Unprocessable(format!(
                        "release v{} has no code: it was made before the first build; roll back to a release that has one",
                        target.version
                    )));
                }
                let config = target.open_config(&sealer)?;
                // A rollback restores the target's code as well as its config vars.
                let r = insert_release(
                    c,
                    &sealer,
                    &a.id,
                    format!("Rollback to v{}", target.version),
                    &config,
                    &actor2,
                    target.slug_id.clone(),
                )?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.release.rollback",
                    format!("app/{}", a.id),
                    json!({ "to": target.version, "version": r.version }),
                )?;
                Ok((a, r))
            })
            .await?;
        let current = r.status == RELEASE_SUCCEEDED;
        self.release_view(&a, &r, current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_changes_are_released() {
        let mut config = BTreeMap::from([("A".to_string(), "1".to_string()), ("B".to_string(), "2".to_string())]);
        let changes = BTreeMap::from([
            ("A".to_string(), Some("1".to_string())),
            ("B".to_string(), None),
            ("C".to_string(), Some("3".to_string())),
            ("D".to_string(), None),
        ]);
        let (set, unset) = apply_changes(&mut config, &changes);
        assert_eq!(
            (set.as_slice(), unset.as_slice()),
            (&["C".to_string()][..], &["B".to_string()][..])
        );
        assert_eq!(
            change_description(&set, &unset),
            "Set C config vars; Unset B config vars"
        );
        assert_eq!(change_description(&[], &unset), "Unset B config vars");
    }
}
