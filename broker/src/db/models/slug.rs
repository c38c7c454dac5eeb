//! Slugs: an app's unpacked code.

use diesel::prelude::*;

use crate::db::schema::slugs;
use crate::db::DbConnection;
use crate::error::Result;
use crate::ids::AppId;

/// An app's code: an unpacked archive with its Procfile's process types.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = slugs)]
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

impl Slug {
    /// Process type → command, from its JSON (empty when unreadable).
    pub fn commands(&self) -> std::collections::BTreeMap<String, String> {
        serde_json::from_str(&self.process_types).unwrap_or_default()
    }

    /// Records a new slug.
    pub fn insert(c: &mut DbConnection, slug: &Slug) -> Result<()> {
        diesel::insert_into(slugs::table).values(slug).execute(c)?;
        Ok(())
    }

    /// The slug with this id, if any.
    pub fn find(c: &mut DbConnection, id: &str) -> Result<Option<Slug>> {
        Ok(slugs::table.find(id).select(Slug::as_select()).first(c).optional()?)
    }

    /// The app's slug with this id, if any.
    pub fn find_of_app(c: &mut DbConnection, app_id: &AppId, id: &str) -> Result<Option<Slug>> {
        Ok(slugs::table
            .filter(slugs::app_id.eq(app_id.as_str()).and(slugs::id.eq(id)))
            .select(Slug::as_select())
            .first(c)
            .optional()?)
    }

    /// The ids of every slug (their directories are kept).
    pub fn all_ids(c: &mut DbConnection) -> Result<Vec<String>> {
        Ok(slugs::table.select(slugs::id).load(c)?)
    }
}
