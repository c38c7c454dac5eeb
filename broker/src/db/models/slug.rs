//! Slugs: an app's unpacked code.

use diesel::prelude::*;

/// An app's code: an unpacked archive with its Procfile's process types.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::slugs)]
pub struct Slug {
    /// UUID; also its directory name under `<data_dir>/slugs`.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// JSON object: process type → command.
    pub process_types: String,
    /// Unpacked size in bytes.
    pub size: i64,
    /// `SHA256:<hex>` of the uploaded archive.
    pub checksum: String,
    /// Creation time (ms).
    pub created_at: i64,
}
