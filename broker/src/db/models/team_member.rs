//! Team memberships: who belongs to a team, as `admin` or `member`.

use diesel::prelude::*;

use crate::db::schema::team_members;
use crate::db::DbConnection;
use crate::error::Result;

/// What a team member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamRole {
    /// Manages the team (members, apps' access) and acts as the owner of its apps.
    Admin,
    /// Uses the team's apps as a collaborator does.
    Member,
}

impl TeamRole {
    /// `admin` or `member`.
    pub fn parse(s: &str) -> Option<TeamRole> {
        match s {
            "admin" => Some(TeamRole::Admin),
            "member" => Some(TeamRole::Member),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Admin => "admin",
            TeamRole::Member => "member",
        }
    }
}

/// One person's membership of a team.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::team_members)]
pub struct TeamMember {
    /// UUID.
    pub id: String,
    /// The team.
    pub team_id: String,
    /// The person (a token subject).
    pub person: String,
    /// `admin` or `member`.
    pub role: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl TeamMember {
    /// The role as an enum (an unknown stored role counts as `member`, the lesser one).
    pub fn role(&self) -> TeamRole {
        TeamRole::parse(&self.role).unwrap_or(TeamRole::Member)
    }

    /// `person`'s membership of a team, if any.
    pub fn get(conn: &mut DbConnection, team_id: &str, person: &str) -> Result<Option<TeamMember>> {
        Ok(team_members::table
            .filter(team_members::team_id.eq(team_id))
            .filter(team_members::person.eq(person))
            .select(TeamMember::as_select())
            .first(conn)
            .optional()?)
    }

    /// A team's members, by person.
    pub fn of_team(conn: &mut DbConnection, team_id: &str) -> Result<Vec<TeamMember>> {
        Ok(team_members::table
            .filter(team_members::team_id.eq(team_id))
            .order(team_members::person.asc())
            .select(TeamMember::as_select())
            .load(conn)?)
    }

    /// How many admins a team has.
    pub fn count_admins(conn: &mut DbConnection, team_id: &str) -> Result<i64> {
        Ok(team_members::table
            .filter(team_members::team_id.eq(team_id))
            .filter(team_members::role.eq(TeamRole::Admin.as_str()))
            .count()
            .get_result(conn)?)
    }

    /// Inserts a new membership row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(team_members::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Changes a membership's role.
    pub fn set_role(conn: &mut DbConnection, id: &str, role: TeamRole, now: i64) -> Result<()> {
        diesel::update(team_members::table.find(id))
            .set((team_members::role.eq(role.as_str()), team_members::updated_at.eq(now)))
            .execute(conn)?;
        Ok(())
    }

    /// Removes a membership.
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<()> {
        diesel::delete(team_members::table.find(id)).execute(conn)?;
        Ok(())
    }
}
