//! What people name an add-on by: its name or id, its attachment name on an app (`REDIS`,
//! `DATABASE`), or its service name when the app has exactly one add-on of that service
//! (`redis`). Pure lookups inside a transaction; the callers decide what the add-on may do.

use super::domain::Actor;
use crate::access::{role_of, Role};
use crate::catalog::clip;
use crate::db::models::{Addon, App, Attachment};
use crate::db::DbConnection;
use crate::error::{Error, Result};

/// Where an add-on's name or id may point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reach {
    /// Only to an add-on the app owns or has attached (routes under `/apps/{app}/addons`).
    OnApp,
    /// Anywhere (attaching an existing add-on to an app); attachment and service names are
    /// still looked up on the app.
    Anywhere,
}

/// Resolves what a request calls an add-on, in the context of `app`:
/// 1. its name or id (which must be on the app for [`Reach::OnApp`]);
/// 2. an attachment name on the app (exact, so `REDIS`, as Heroku writes them);
/// 3. a service name, when exactly one add-on of the app (owned or attached) is of that
///    service; several are a 422 listing them.
///
/// 404 when nothing matches.
pub(super) fn resolve_addon(
    c: &mut DbConnection,
    app: &App,
    wanted: &str,
    reach: Reach,
    actor: &Actor,
) -> Result<Addon> {
    let by_identity = Addon::lookup(c, wanted)?;
    // Only someone who may see an add-on's own app learns that the add-on exists elsewhere:
    // to anyone else a name or id of it is no match at all.
    let known = match &by_identity {
        Some(addon) => may_see(c, addon, actor)?,
        None => false,
    };
    let attachments = Attachment::of_app(c, &app.id)?;
    let on_app = |a: &Addon| a.app_id == app.id || attachments.iter().any(|x| x.addon_id == a.id);
    if let Some(addon) = &by_identity {
        if on_app(addon) || (reach == Reach::Anywhere && known) {
            return Ok(addon.clone());
        }
    }
    if let Some(att) = attachments.iter().find(|x| x.name == wanted) {
        return Addon::by_id(c, &att.addon_id);
    }
    let attached: Vec<String> = attachments.iter().map(|x| x.addon_id.clone()).collect();
    let mut of_service: Vec<Addon> = Addon::owned_or_listed(c, &app.id, &attached)?
        .into_iter()
        .filter(|a| a.service == wanted)
        .collect();
    if of_service.len() > 1 {
        let names: Vec<String> = of_service.iter().map(|a| a.name.clone()).collect();
        return Err(Error::Unprocessable(format!(
            "{} is ambiguous: app {} has {} {} add-ons ({}); name one of them",
            clip(wanted),
            app.name,
            names.len(),
            clip(wanted),
            names.join(", ")
        )));
    }
    if let Some(addon) = of_service.pop() {
        return Ok(addon);
    }
    Err(match by_identity {
        Some(addon) if known => Error::NotFound(format!("add-on {} is not attached to app {}", addon.name, app.name)),
        _ => no_such_addon(wanted, app),
    })
}

/// The 404 of a name that is no add-on the caller may see, on `app`.
pub(super) fn no_such_addon(wanted: &str, app: &App) -> Error {
    Error::NotFound(format!(
        "add-on {} does not exist on app {} (not an add-on name or id, nor an attachment or service name there)",
        clip(wanted),
        app.name
    ))
}

/// The caller's role on the app that owns `addon`, if any.
pub(super) fn role_on_owner(c: &mut DbConnection, addon: &Addon, actor: &Actor) -> Result<Option<Role>> {
    match App::get(c, &addon.app_id)? {
        Some(owner) => role_of(c, &owner, actor),
        None => Ok(None),
    }
}

fn may_see(c: &mut DbConnection, addon: &Addon, actor: &Actor) -> Result<bool> {
    Ok(role_on_owner(c, addon, actor)?.is_some())
}
