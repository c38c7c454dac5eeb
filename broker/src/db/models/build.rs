//! Builds: uploaded archives on their way to a slug and a release.

use diesel::prelude::*;

/// A build: an uploaded archive turned into a slug and (when it succeeds) a release.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::builds)]
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
}
