//! `GET /account`: who the caller is.

use super::actor::Actor;
use super::domain::Access;
use super::teams::team_view;
use super::views::AccountView;
use crate::db::models::{Team, TeamMember};
use crate::error::Result;

impl Access {
    /// The caller's account: their name, the token in use, their teams and roles.
    pub async fn account(&self, actor: &Actor) -> Result<AccountView> {
        let sub = actor.sub.clone();
        let teams = self
            .db
            .run(move |c| {
                let teams = Team::of_person(c, &sub)?;
                teams
                    .iter()
                    .map(|t| Ok(team_view(t, TeamMember::get(c, &t.id, &sub)?.map(|m| m.role()))))
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        Ok(AccountView {
            id: actor.sub.clone(),
            scope: actor.scope.as_str().to_string(),
            token_id: actor.token_id.clone(),
            teams,
        })
    }
}
