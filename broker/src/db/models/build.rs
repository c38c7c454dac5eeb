//! Builds: uploaded archives on their way to a slug and a release.

use diesel::prelude::*;

use crate::db::schema::builds;
use crate::db::DbConnection;
use crate::error::Result;
use crate::ids::AppId;

/// A build: an uploaded archive turned into a slug and (when it succeeds) a release.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = builds)]
pub struct Build {
    /// UUID.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// The slug, once unpacked.
    pub slug_id: Option<String>,
    /// The release it made, when it succeeded.
    pub release_version: Option<i32>,
    /// What the build and its release phase printed.
    pub output: String,
    /// Token subject that started it.
    pub created_by: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// The broker run that runs it (`node-{id}/{boot}`; none for builds of older brokers).
    pub runner: Option<String>,
}

impl Build {
    /// Records a new build.
    pub fn insert(c: &mut DbConnection, build: &Build) -> Result<()> {
        diesel::insert_into(builds::table).values(build).execute(c)?;
        Ok(())
    }

    /// The build with this id.
    pub fn get(c: &mut DbConnection, id: &str) -> Result<Build> {
        Ok(builds::table.find(id).select(Build::as_select()).first(c)?)
    }

    /// The app's build with this id, if any.
    pub fn find_of_app(c: &mut DbConnection, app_id: &AppId, id: &str) -> Result<Option<Build>> {
        Ok(builds::table
            .filter(builds::app_id.eq(app_id.as_str()).and(builds::id.eq(id)))
            .select(Build::as_select())
            .first(c)
            .optional()?)
    }

    /// An app's builds, oldest first.
    pub fn of_app(c: &mut DbConnection, app_id: &str) -> Result<Vec<Build>> {
        Ok(builds::table
            .filter(builds::app_id.eq(app_id))
            .order(builds::created_at.asc())
            .select(Build::as_select())
            .load(c)?)
    }

    /// Writes every field of this build.
    pub fn save(&self, c: &mut DbConnection) -> Result<()> {
        diesel::update(builds::table.find(&self.id)).set(self).execute(c)?;
        Ok(())
    }

    /// Marks the `pending` builds of the node `node_prefix` names (and those of no recorded
    /// runner) as failed with this output; returns how many there were. Other replicas' builds
    /// run on.
    pub fn fail_pending(c: &mut DbConnection, node_prefix: &str, output: &str, now: i64) -> Result<usize> {
        let mine = builds::runner
            .is_null()
            .or(builds::runner.like(format!("{node_prefix}%")));
        Ok(
            diesel::update(builds::table.filter(builds::status.eq("pending")).filter(mine))
                .set((
                    builds::status.eq("failed"),
                    builds::output.eq(builds::output.concat(output)),
                    builds::updated_at.eq(now),
                ))
                .execute(c)?,
        )
    }
}
