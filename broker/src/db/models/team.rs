//! Teams: groups of people that own apps together.

use diesel::prelude::*;

use crate::catalog::clip;
use crate::db::schema::{team_members, teams};
use crate::db::DbConnection;
use crate::error::{Error, Result};

/// A team.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::teams)]
pub struct Team {
    /// UUID.
    pub id: String,
    /// Unique name (`^[a-z][a-z0-9-]{2,29}$`, like app names).
    pub name: String,
    /// The person who created it.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Team {
    /// A team by id or name; 404 when there is none.
    pub fn find(conn: &mut DbConnection, id_or_name: &str) -> Result<Team> {
        teams::table
            .filter(teams::id.eq(id_or_name).or(teams::name.eq(id_or_name)))
            .select(Team::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("team {} does not exist", clip(id_or_name))))
    }

    /// A team by id, if it exists.
    pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Team>> {
        Ok(teams::table.find(id).select(Team::as_select()).first(conn).optional()?)
    }

    /// Every team, by name.
    pub fn all(conn: &mut DbConnection) -> Result<Vec<Team>> {
        Ok(teams::table
            .order(teams::name.asc())
            .select(Team::as_select())
            .load(conn)?)
    }

    /// The teams `person` belongs to, by name.
    pub fn of_person(conn: &mut DbConnection, person: &str) -> Result<Vec<Team>> {
        let mine = team_members::table
            .filter(team_members::person.eq(person))
            .select(team_members::team_id);
        Ok(teams::table
            .filter(teams::id.eq_any(mine))
            .order(teams::name.asc())
            .select(Team::as_select())
            .load(conn)?)
    }

    /// Inserts a new team row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(teams::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Deletes a team and its memberships.
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<()> {
        diesel::delete(team_members::table.filter(team_members::team_id.eq(id))).execute(conn)?;
        diesel::delete(teams::table.find(id)).execute(conn)?;
        Ok(())
    }
}
