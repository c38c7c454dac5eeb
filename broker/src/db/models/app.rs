//! Apps of the platform API and their queries.

use diesel::prelude::*;

use crate::catalog::clip;
use crate::db::schema::{
    apps, buildpack_installations, builds, collaborators, domains, formations, releases, slugs, team_members,
};
use crate::db::DbConnection;
use crate::error::{Error, Result};

/// An app of the platform API.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::apps, treat_none_as_null = true)]
pub struct App {
    /// UUID.
    pub id: String,
    /// Unique name (`^[a-z][a-z0-9-]{2,29}$`).
    pub name: String,
    /// The person who owns it: its creator, or whom it was transferred to. For a team's app,
    /// the person who created it there (the team owns it; see `team_id`).
    pub owner: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// The team that owns it, if a team does.
    pub team_id: Option<String>,
}

impl App {
    /// An app by id or name; 404 when there is none.
    pub fn find(conn: &mut DbConnection, id_or_name: &str) -> Result<App> {
        apps::table
            .filter(apps::id.eq(id_or_name).or(apps::name.eq(id_or_name)))
            .select(App::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("app {} does not exist", clip(id_or_name))))
    }

    /// An app by its name (never its id), if it exists: what a router host names.
    pub fn by_name(conn: &mut DbConnection, name: &str) -> Result<Option<App>> {
        Ok(apps::table
            .filter(apps::name.eq(name))
            .select(App::as_select())
            .first(conn)
            .optional()?)
    }

    /// An app by its id, if it exists.
    pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<App>> {
        Ok(apps::table.find(id).select(App::as_select()).first(conn).optional()?)
    }

    /// Every app, by name.
    pub fn all(conn: &mut DbConnection) -> Result<Vec<App>> {
        Ok(apps::table
            .order(apps::name.asc())
            .select(App::as_select())
            .load(conn)?)
    }

    /// Inserts a new app row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(apps::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Writes every column of this row.
    pub fn save(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::update(apps::table.find(&self.id)).set(self).execute(conn)?;
        Ok(())
    }

    /// Deletes an app with the rows that belong to it alone: formations, builds, releases and
    /// slugs, buildpacks, domains (whose hostnames are then free for other apps). (Its add-ons
    /// and attachments must be gone already.)
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<()> {
        diesel::delete(formations::table.filter(formations::app_id.eq(id))).execute(conn)?;
        diesel::delete(builds::table.filter(builds::app_id.eq(id))).execute(conn)?;
        diesel::delete(releases::table.filter(releases::app_id.eq(id))).execute(conn)?;
        diesel::delete(slugs::table.filter(slugs::app_id.eq(id))).execute(conn)?;
        diesel::delete(collaborators::table.filter(collaborators::app_id.eq(id))).execute(conn)?;
        diesel::delete(buildpack_installations::table.filter(buildpack_installations::app_id.eq(id))).execute(conn)?;
        diesel::delete(domains::table.filter(domains::app_id.eq(id))).execute(conn)?;
        diesel::delete(apps::table.find(id)).execute(conn)?;
        Ok(())
    }

    /// The apps with these ids (those that exist).
    pub fn with_ids(conn: &mut DbConnection, ids: Vec<String>) -> Result<Vec<App>> {
        Ok(apps::table
            .filter(apps::id.eq_any(ids))
            .select(App::as_select())
            .load(conn)?)
    }

    /// The id of the app named by its id or its name, if any.
    pub fn resolve_id(conn: &mut DbConnection, id_or_name: &str) -> Result<Option<String>> {
        Ok(apps::table
            .filter(apps::id.eq(id_or_name).or(apps::name.eq(id_or_name)))
            .select(apps::id)
            .first(conn)
            .optional()?)
    }

    /// The apps `person` may use, by name: personal apps they own, apps they collaborate on,
    /// and apps of their teams.
    pub fn visible_to(conn: &mut DbConnection, person: &str) -> Result<Vec<App>> {
        let collaborating = collaborators::table
            .filter(collaborators::person.eq(person))
            .select(collaborators::app_id);
        let teams = team_members::table
            .filter(team_members::person.eq(person))
            .select(team_members::team_id);
        Ok(apps::table
            .filter(
                apps::team_id
                    .is_null()
                    .and(apps::owner.eq(person))
                    .or(apps::id.eq_any(collaborating))
                    .or(apps::team_id.assume_not_null().eq_any(teams)),
            )
            .order(apps::name.asc())
            .select(App::as_select())
            .load(conn)?)
    }

    /// How many apps a team owns.
    pub fn count_of_team(conn: &mut DbConnection, team_id: &str) -> Result<i64> {
        Ok(apps::table.filter(apps::team_id.eq(team_id)).count().get_result(conn)?)
    }
}
