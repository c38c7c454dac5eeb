//! Transferring an app: to a person who already has access to it, or into a team the caller
//! belongs to. Only the owner (or a team admin) may. The recipient's existing access stands in
//! for their consent, as Heroku transfers to a collaborator at once.

use super::actor::Actor;
use super::people::validate_person;
use crate::catalog::clip;
use crate::db::models::{App, Collaborator, Team, TeamMember};
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};

/// Where an app goes.
#[derive(Debug, Clone)]
pub enum Transfer {
    /// To a person: a collaborator of the app, or a member of its team.
    Person(String),
    /// Into a team the caller belongs to.
    Team(String),
}

/// Moves `app` (already checked: the caller's role on it is owner) to its new owner, in the
/// caller's transaction. A personal app's previous owner stays on as a collaborator.
pub fn transfer(c: &mut DbConnection, app: &mut App, to: &Transfer, actor: &Actor) -> Result<()> {
    match to {
        Transfer::Person(person) => to_person(c, app, person),
        Transfer::Team(team) => to_team(c, app, team, actor),
    }?;
    app.updated_at = now_ms();
    app.save(c)
}

fn to_person(c: &mut DbConnection, app: &mut App, person: &str) -> Result<()> {
    validate_person(person)?;
    if app.team_id.is_none() && app.owner == person {
        return Ok(());
    }
    let collaborator = Collaborator::get(c, &app.id, person)?;
    let member = match &app.team_id {
        Some(t) => TeamMember::get(c, t, person)?.is_some(),
        None => false,
    };
    if collaborator.is_none() && !member {
        return Err(Error::Unprocessable(format!(
            "{} has no access to app {}: add them as a collaborator first, then transfer",
            clip(person),
            app.name
        )));
    }
    if let Some(x) = collaborator {
        Collaborator::delete(c, &x.id)?;
    }
    if app.team_id.is_none() {
        Collaborator::new(&app.id, &app.owner, person, now_ms()).insert(c)?;
    }
    app.owner = person.to_string();
    app.team_id = None;
    Ok(())
}

fn to_team(c: &mut DbConnection, app: &mut App, team: &str, actor: &Actor) -> Result<()> {
    let t = Team::find(c, team)?;
    if !actor.is_admin() && TeamMember::get(c, &t.id, &actor.sub)?.is_none() {
        return Err(Error::NotFound(format!("team {} does not exist", clip(team))));
    }
    app.team_id = Some(t.id);
    Ok(())
}
