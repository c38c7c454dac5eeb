//! Teams: a group that owns apps together. Its admins act as the owner of its apps and manage
//! its members; its members act as collaborators on its apps.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::actor::Actor;
use super::domain::Access;
use super::people::{validate_person, validate_team_name};
use super::views::{PersonRef, TeamMemberView, TeamView};
use crate::catalog::clip;
use crate::db::models::{App, Team, TeamMember, TeamRole};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::provisioning::audit;
use crate::shapes::{iso, NameRef};

/// `POST /teams`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    /// Unique name (`^[a-z][a-z0-9-]{2,29}$`).
    pub name: String,
}

/// `PUT /teams/{team}/members`: adds a member or changes their role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamMemberChange {
    /// The person (a token subject).
    pub user: String,
    /// `admin` or `member` (the default).
    #[serde(default)]
    pub role: Option<String>,
}

pub(super) fn team_view(t: &Team, role: Option<TeamRole>) -> TeamView {
    TeamView {
        id: t.id.clone(),
        name: t.name.clone(),
        role: role.map(|r| r.as_str().to_string()),
        created_at: iso(t.created_at),
        updated_at: iso(t.updated_at),
    }
}

fn member_view(t: &Team, m: &TeamMember) -> TeamMemberView {
    TeamMemberView {
        id: m.id.clone(),
        team: NameRef {
            id: t.id.clone(),
            name: t.name.clone(),
        },
        user: PersonRef { id: m.person.clone() },
        role: m.role.clone(),
        created_at: iso(m.created_at),
        updated_at: iso(m.updated_at),
    }
}

/// A team the caller belongs to, with their role (`None` for an admin token's caller who is
/// not a member); 404 for a team they are not in, as for one that does not exist.
pub fn team_for(c: &mut DbConnection, team: &str, actor: &Actor) -> Result<(Team, Option<TeamRole>)> {
    let t = Team::find(c, team)?;
    let role = TeamMember::get(c, &t.id, &actor.sub)?.map(|m| m.role());
    if role.is_none() && !actor.is_admin() {
        return Err(Error::NotFound(format!("team {} does not exist", clip(team))));
    }
    Ok((t, role))
}

/// A team the caller administers (or any team, for an admin token).
fn team_admin(c: &mut DbConnection, team: &str, actor: &Actor) -> Result<Team> {
    let (t, role) = team_for(c, team, actor)?;
    if role != Some(TeamRole::Admin) && !actor.is_admin() {
        return Err(Error::Forbidden(format!(
            "only an admin of team {} may do this",
            t.name
        )));
    }
    Ok(t)
}

impl Access {
    /// Creates a team; the caller becomes its first admin.
    pub async fn create_team(&self, actor: &Actor, req: NewTeam) -> Result<TeamView> {
        validate_team_name(&req.name)?;
        let actor = actor.clone();
        let result = self
            .db
            .write(move |c| {
                let now = now_ms();
                let team = Team {
                    id: uuid::Uuid::new_v4().to_string(),
                    name: req.name.clone(),
                    created_by: actor.sub.clone(),
                    created_at: now,
                    updated_at: now,
                };
                team.insert(c)?;
                new_member(&team.id, &actor.sub, TeamRole::Admin, now).insert(c)?;
                audit(
                    c,
                    &actor.meta(),
                    "access.team.create",
                    format!("team/{}", team.id),
                    json!({ "name": team.name }),
                )?;
                Ok(team)
            })
            .await;
        match result {
            Ok(team) => Ok(team_view(&team, Some(TeamRole::Admin))),
            Err(e) if e.is_unique_violation() => Err(Error::Conflict("that team name is taken".into())),
            Err(e) => Err(e),
        }
    }

    /// The teams the caller belongs to (every team, for an admin token).
    pub async fn list_teams(&self, actor: &Actor) -> Result<Vec<TeamView>> {
        let actor = actor.clone();
        self.db
            .run(move |c| {
                let teams = if actor.is_admin() {
                    Team::all(c)?
                } else {
                    Team::of_person(c, &actor.sub)?
                };
                teams
                    .iter()
                    .map(|t| Ok(team_view(t, TeamMember::get(c, &t.id, &actor.sub)?.map(|m| m.role()))))
                    .collect()
            })
            .await
    }

    /// One team the caller belongs to.
    pub async fn get_team(&self, actor: &Actor, team: String) -> Result<TeamView> {
        let actor = actor.clone();
        let (t, role) = self.db.run(move |c| team_for(c, &team, &actor)).await?;
        Ok(team_view(&t, role))
    }

    /// Deletes a team that owns no apps (its admins only).
    pub async fn delete_team(&self, actor: &Actor, team: String) -> Result<TeamView> {
        let actor = actor.clone();
        self.db
            .write(move |c| {
                let t = team_admin(c, &team, &actor)?;
                let apps = App::count_of_team(c, &t.id)?;
                if apps > 0 {
                    return Err(Error::Conflict(format!(
                        "team {} owns {apps} app(s): destroy or transfer them first",
                        t.name
                    )));
                }
                Team::delete(c, &t.id)?;
                audit(
                    c,
                    &actor.meta(),
                    "access.team.delete",
                    format!("team/{}", t.id),
                    json!({}),
                )?;
                Ok(team_view(&t, None))
            })
            .await
    }

    /// A team's members (any member may look).
    pub async fn team_members(&self, actor: &Actor, team: String) -> Result<Vec<TeamMemberView>> {
        let actor = actor.clone();
        self.db
            .run(move |c| {
                let (t, _) = team_for(c, &team, &actor)?;
                Ok(TeamMember::of_team(c, &t.id)?
                    .iter()
                    .map(|m| member_view(&t, m))
                    .collect())
            })
            .await
    }

    /// Adds a member or changes a member's role (team admins only); a team keeps one admin.
    pub async fn put_team_member(&self, actor: &Actor, team: String, req: TeamMemberChange) -> Result<TeamMemberView> {
        validate_person(&req.user)?;
        let role = match req.role.as_deref() {
            None => TeamRole::Member,
            Some(r) => TeamRole::parse(r)
                .ok_or_else(|| Error::BadRequest(format!("role must be admin or member, not {}", clip(r))))?,
        };
        let actor = actor.clone();
        self.db
            .write(move |c| {
                let t = team_admin(c, &team, &actor)?;
                let now = now_ms();
                let member = match TeamMember::get(c, &t.id, &req.user)? {
                    Some(m) => {
                        if m.role() == TeamRole::Admin && role != TeamRole::Admin {
                            keep_an_admin(c, &t)?;
                        }
                        TeamMember::set_role(c, &m.id, role, now)?;
                        TeamMember::get(c, &t.id, &req.user)?.unwrap_or(m)
                    }
                    None => {
                        let m = new_member(&t.id, &req.user, role, now);
                        m.insert(c)?;
                        m
                    }
                };
                let detail = json!({ "user": member.person, "role": member.role });
                audit(
                    c,
                    &actor.meta(),
                    "access.team.member.put",
                    format!("team/{}", t.id),
                    detail,
                )?;
                Ok(member_view(&t, &member))
            })
            .await
    }

    /// Removes a member (team admins, or the member themselves); a team keeps one admin.
    pub async fn remove_team_member(&self, actor: &Actor, team: String, person: String) -> Result<TeamMemberView> {
        let actor = actor.clone();
        self.db
            .write(move |c| {
                let (t, _) = team_for(c, &team, &actor)?;
                if person != actor.sub {
                    team_admin(c, &team, &actor)?;
                }
                let m = TeamMember::get(c, &t.id, &person)?
                    .ok_or_else(|| Error::NotFound(format!("{} is not a member of team {}", clip(&person), t.name)))?;
                if m.role() == TeamRole::Admin {
                    keep_an_admin(c, &t)?;
                }
                TeamMember::delete(c, &m.id)?;
                audit(
                    c,
                    &actor.meta(),
                    "access.team.member.remove",
                    format!("team/{}", t.id),
                    json!({ "user": m.person }),
                )?;
                Ok(member_view(&t, &m))
            })
            .await
    }
}

fn new_member(team_id: &str, person: &str, role: TeamRole, now: i64) -> TeamMember {
    TeamMember {
        id: uuid::Uuid::new_v4().to_string(),
        team_id: team_id.to_string(),
        person: person.to_string(),
        role: role.as_str().to_string(),
        created_at: now,
        updated_at: now,
    }
}

/// Refuses to take away a team's last admin: nobody could manage it after.
fn keep_an_admin(c: &mut DbConnection, t: &Team) -> Result<()> {
    if TeamMember::count_admins(c, &t.id)? <= 1 {
        return Err(Error::Unprocessable(format!(
            "team {} must keep an admin: make someone else admin first",
            t.name
        )));
    }
    Ok(())
}
