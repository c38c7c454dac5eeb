//! Collaborators: people the owner lets use an app. They may do everything but delete,
//! rename or transfer it and manage its access; they may leave it themselves.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::actor::Actor;
use super::check::{app_for, Role};
use super::domain::Access;
use super::people::validate_person;
use super::views::{CollaboratorView, PersonRef};
use crate::catalog::clip;
use crate::db::models::{App, Collaborator, TeamMember};
use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::provisioning::audit;
use crate::shapes::{iso, NameRef};

/// `POST /apps/{app}/collaborators`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCollaborator {
    /// The person (a token subject).
    pub user: String,
    /// Accepted for Heroku's shape; the broker sends no invitations either way.
    #[serde(default)]
    pub silent: Option<bool>,
}

fn collaborator_view(a: &App, x: &Collaborator) -> CollaboratorView {
    CollaboratorView {
        id: x.id.clone(),
        app: NameRef {
            id: a.id.clone(),
            name: a.name.clone(),
        },
        user: PersonRef { id: x.person.clone() },
        role: "collaborator".into(),
        created_at: iso(x.created_at),
        updated_at: iso(x.updated_at),
    }
}

impl Access {
    /// An app's collaborators (anyone with access may look).
    pub async fn collaborators(&self, actor: &Actor, app: String) -> Result<Vec<CollaboratorView>> {
        let actor = actor.clone();
        self.db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                Ok(Collaborator::of_app(c, &a.id)?
                    .iter()
                    .map(|x| collaborator_view(&a, x))
                    .collect())
            })
            .await
    }

    /// Adds a collaborator (the owner or a team admin only).
    pub async fn add_collaborator(&self, actor: &Actor, app: String, req: NewCollaborator) -> Result<CollaboratorView> {
        validate_person(&req.user)?;
        let actor = actor.clone();
        self.db
            .write(move |c| {
                let a = app_for(c, &app, &actor, Role::Owner)?;
                let owns = a.team_id.is_none() && a.owner == req.user;
                let in_team = match &a.team_id {
                    Some(t) => TeamMember::get(c, t, &req.user)?.is_some(),
                    None => false,
                };
                if owns || in_team {
                    return Err(Error::Unprocessable(format!(
                        "{} already has access to app {} as its {}",
                        req.user,
                        a.name,
                        if owns { "owner" } else { "team's member" }
                    )));
                }
                if Collaborator::get(c, &a.id, &req.user)?.is_some() {
                    return Err(Error::Conflict(format!(
                        "{} is already a collaborator on app {}",
                        req.user, a.name
                    )));
                }
                let x = Collaborator::new(&a.id, &req.user, &actor.sub, now_ms());
                x.insert(c)?;
                audit(
                    c,
                    &actor.meta(),
                    "access.collaborator.add",
                    format!("app/{}", a.id),
                    json!({ "user": x.person }),
                )?;
                Ok(collaborator_view(&a, &x))
            })
            .await
    }

    /// Removes a collaborator, by id or person (the owner or a team admin; or the collaborator
    /// themselves).
    pub async fn remove_collaborator(&self, actor: &Actor, app: String, who: String) -> Result<CollaboratorView> {
        let actor = actor.clone();
        self.db
            .write(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let x = Collaborator::find_in_app(c, &a.id, &who)?.ok_or_else(|| {
                    Error::NotFound(format!("{} is not a collaborator on app {}", clip(&who), a.name))
                })?;
                if x.person != actor.sub {
                    app_for(c, &app, &actor, Role::Owner)?;
                }
                Collaborator::delete(c, &x.id)?;
                audit(
                    c,
                    &actor.meta(),
                    "access.collaborator.remove",
                    format!("app/{}", a.id),
                    json!({ "user": x.person }),
                )?;
                Ok(collaborator_view(&a, &x))
            })
            .await
    }
}
