//! Releases: numbered, sealed snapshots of an app's config vars and code.

use diesel::prelude::*;

/// A release: a numbered, sealed snapshot of an app's config vars.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::releases)]
pub struct Release {
    /// UUID.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// 1, 2, 3 … per app.
    pub version: i32,
    /// What changed ("Set FOO config vars").
    pub description: String,
    /// Sealed JSON object of the config vars.
    pub config: Vec<u8>,
    /// JSON list of the attached add-ons' `service:plan`.
    pub addon_plan_names: String,
    /// `succeeded`.
    pub status: String,
    /// Token subject that caused it.
    pub created_by: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// The slug (code) it runs; `None` before the first build.
    pub slug_id: Option<String>,
}

// added by dynos helper
impl Release {
    /// An app's release ids by version.
    pub fn ids_by_version(c: &mut crate::db::DbConnection, app_id: &str) -> crate::error::Result<Vec<(i32, String)>> {
        use crate::db::schema::releases;
        Ok(releases::table
            .filter(releases::app_id.eq(app_id))
            .select((releases::version, releases::id))
            .load(c)?)
    }
}
