//! The access rule: a caller's role on an app, and the lookup every app-scoped route makes.
//!
//! A caller without access to an app gets the same 404 as for an app that does not exist, so
//! app names do not leak; one with access but not enough gets a 403.

use super::actor::Actor;
use crate::catalog::clip;
use crate::db::models::{App, Collaborator, TeamMember, TeamRole};
use crate::db::{Db, DbConnection};
use crate::error::{Error, Result};

/// What a caller may do with an app. Ordered: an owner may do what a collaborator may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Deploy, scale, run, read logs and config, set config, manage add-ons (a collaborator,
    /// or a member of the owning team).
    Collaborator,
    /// Also delete, rename and transfer the app and manage its access (the owner, an admin of
    /// the owning team, or an `admin` token).
    Owner,
}

/// The caller's role on an app, or `None` when they have no access.
pub fn role_of(c: &mut DbConnection, app: &App, actor: &Actor) -> Result<Option<Role>> {
    if actor.is_admin() {
        return Ok(Some(Role::Owner));
    }
    match &app.team_id {
        Some(team) => {
            if let Some(m) = TeamMember::get(c, team, &actor.sub)? {
                return Ok(Some(match m.role() {
                    TeamRole::Admin => Role::Owner,
                    TeamRole::Member => Role::Collaborator,
                }));
            }
        }
        None if app.owner == actor.sub => return Ok(Some(Role::Owner)),
        None => {}
    }
    Ok(Collaborator::get(c, &app.id, &actor.sub)?.map(|_| Role::Collaborator))
}

/// The app named by id or name, when the caller's role on it is at least `needed`: 404 when
/// it does not exist or the caller has no access, 403 when their role is below `needed`.
pub fn app_for(c: &mut DbConnection, id_or_name: &str, actor: &Actor, needed: Role) -> Result<App> {
    let app = App::find(c, id_or_name)?;
    match role_of(c, &app, actor)? {
        Some(role) if role >= needed => Ok(app),
        Some(_) => Err(Error::Forbidden(format!(
            "only the owner of app {} (or an admin of its team) may do this",
            app.name
        ))),
        // Word for word what `App::find` says of an app that does not exist.
        None => Err(Error::NotFound(format!("app {} does not exist", clip(id_or_name)))),
    }
}

/// [`app_for`] in a read of its own, for a domain that checks access before anything else of
/// a request (so that a stranger learns nothing, not even that their input is wrong).
pub async fn load_app(db: &Db, app: &str, actor: &Actor, needed: Role) -> Result<App> {
    let (app, actor) = (app.to_string(), actor.clone());
    db.run(move |c| app_for(c, &app, &actor, needed)).await
}

/// The apps the caller may see, by name: every app for an admin.
pub fn visible_apps(c: &mut DbConnection, actor: &Actor) -> Result<Vec<App>> {
    if actor.is_admin() {
        App::all(c)
    } else {
        App::visible_to(c, &actor.sub)
    }
}
