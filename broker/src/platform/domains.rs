//! An app's domains (Heroku's `/apps/{app}/domains`): its default hostname
//! `{app}.{router.domain}` (kind `heroku`, not a row, listed only when this broker runs a
//! router) and the custom hostnames added to it (kind `custom`, rows the router looks up).
//! Collaborators may list, add and remove them; another tenant gets the 404 of a missing app.

use serde_json::json;

use super::domain::{Actor, Platform};
use super::hostnames::{default_domain_id, parse_hostname, AppHosts};
use super::views::{iso, DomainView, NameRef};
use crate::access::{app_for, Role};
use crate::catalog::clip;
use crate::db::models::{App, Domain};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::provisioning::audit;

/// What every domain view says of its state: the router serves a name from the moment it is
/// added (there is no certificate or DNS check to wait for).
const SUCCEEDED: &str = "succeeded";

/// The view of a custom domain of `app`.
fn custom_view(hosts: &AppHosts, app: &App, d: &Domain) -> DomainView {
    DomainView {
        id: d.id.clone(),
        hostname: d.hostname.clone(),
        kind: "custom".into(),
        cname: Some(hosts.target_of(&app.name)),
        status: SUCCEEDED.into(),
        app: NameRef {
            id: app.id.clone(),
            name: app.name.clone(),
        },
        created_at: iso(d.created_at),
        updated_at: iso(d.updated_at),
    }
}

/// The view of the app's default hostname, when the router serves it.
fn default_view(hosts: &AppHosts, app: &App) -> Option<DomainView> {
    Some(DomainView {
        id: default_domain_id(&app.id),
        hostname: hosts.default_hostname(&app.name)?,
        kind: "heroku".into(),
        cname: None,
        status: SUCCEEDED.into(),
        app: NameRef {
            id: app.id.clone(),
            name: app.name.clone(),
        },
        created_at: iso(app.created_at),
        updated_at: iso(app.updated_at),
    })
}

/// Every domain of `app`: the default first, then the custom ones by hostname.
fn views_of(c: &mut DbConnection, hosts: &AppHosts, app: &App) -> Result<Vec<DomainView>> {
    let custom = Domain::of_app(c, &app.id)?;
    Ok(default_view(hosts, app)
        .into_iter()
        .chain(custom.iter().map(|d| custom_view(hosts, app, d)))
        .collect())
}

/// Which of an app's domains `wanted` names (its id, or its hostname in any case, with or
/// without the trailing dot); 404 when none.
fn pick(views: Vec<DomainView>, wanted: &str) -> Result<DomainView> {
    let hostname = wanted.strip_suffix('.').unwrap_or(wanted).to_ascii_lowercase();
    views
        .into_iter()
        .find(|v| v.id == wanted || v.hostname == hostname)
        .ok_or_else(|| Error::NotFound(format!("domain {} does not exist", clip(wanted))))
}

/// Why `hostname` cannot be added to `app` when a domain row already holds it.
fn in_use(app: &App, holder: &Domain) -> Error {
    if holder.app_id == app.id {
        Error::Unprocessable(format!("{} is already added to app {}", holder.hostname, app.name))
    } else {
        Error::Unprocessable(format!("{} is already in use", holder.hostname))
    }
}

impl Platform {
    /// An app's domains: its default hostname first (when the router is bound), then the
    /// custom ones by hostname.
    pub async fn list_domains(&self, app: String, actor: &Actor) -> Result<Vec<DomainView>> {
        let (hosts, actor) = (self.hosts.clone(), actor.clone());
        self.db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                views_of(c, &hosts, &a)
            })
            .await
    }

    /// One domain of an app, by id or hostname.
    pub async fn get_domain(&self, app: String, domain: String, actor: &Actor) -> Result<DomainView> {
        let (hosts, actor) = (self.hosts.clone(), actor.clone());
        self.db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                pick(views_of(c, &hosts, &a)?, &domain)
            })
            .await
    }

    /// Adds a custom hostname to an app (after the access check, so a stranger learns nothing
    /// of the name): 422 when it breaks a hostname rule, is under the router's domain or is
    /// on an app already; nothing is written then.
    pub async fn add_domain(&self, app: String, hostname: String, actor: &Actor) -> Result<DomainView> {
        let (hosts, actor, typed) = (self.hosts.clone(), actor.clone(), hostname.clone());
        let result = self
            .db
            .write(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let hostname = hosts.custom_hostname(&hostname)?;
                if let Some(holder) = Domain::find_by_hostname(c, &hostname)? {
                    return Err(in_use(&a, &holder));
                }
                let now = now_ms();
                let d = Domain {
                    id: uuid::Uuid::new_v4().to_string(),
                    app_id: a.id.clone(),
                    hostname,
                    created_at: now,
                    updated_at: now,
                };
                d.insert(c)?;
                let detail = json!({ "domain": d.id, "hostname": d.hostname });
                audit(c, &actor.meta(), "platform.domain.add", format!("app/{}", a.id), detail)?;
                Ok(custom_view(&hosts, &a, &d))
            })
            .await;
        match result {
            // Another request added the same name between the check and the insert.
            Err(e) if e.is_unique_violation() => {
                let hostname = parse_hostname(&typed).unwrap_or(typed);
                Err(Error::Unprocessable(format!("{hostname} is already in use")))
            }
            other => other,
        }
    }

    /// Removes a custom domain of an app (by id or hostname); returns what was removed. The
    /// default hostname cannot be removed (422).
    pub async fn remove_domain(&self, app: String, domain: String, actor: &Actor) -> Result<DomainView> {
        let (hosts, actor) = (self.hosts.clone(), actor.clone());
        self.db
            .write(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let view = pick(views_of(c, &hosts, &a)?, &domain)?;
                if view.kind != "custom" {
                    return Err(Error::Unprocessable(format!(
                        "{} is the app's default hostname; it cannot be removed",
                        view.hostname
                    )));
                }
                Domain::delete(c, &view.id)?;
                let detail = json!({ "domain": view.id, "hostname": view.hostname });
                audit(
                    c,
                    &actor.meta(),
                    "platform.domain.remove",
                    format!("app/{}", a.id),
                    detail,
                )?;
                Ok(view)
            })
            .await
    }
}
