//! Apps of the platform API.

use diesel::prelude::*;

/// An app of the platform API.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::apps)]
pub struct App {
    /// UUID.
    pub id: String,
    /// Unique name (`^[a-z][a-z0-9-]{2,29}$`).
    pub name: String,
    /// Subject of the token that created it.
    pub owner: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

// added by dynos helper
impl App {
    /// The app with this id (not name), if it still exists.
    pub fn by_id(c: &mut crate::db::DbConnection, id: &str) -> crate::error::Result<Option<App>> {
        use crate::db::schema::apps;
        Ok(apps::table.find(id).select(App::as_select()).first(c).optional()?)
    }

    /// The apps with these ids (those that exist).
    pub fn with_ids(c: &mut crate::db::DbConnection, ids: Vec<String>) -> crate::error::Result<Vec<App>> {
        use crate::db::schema::apps;
        Ok(apps::table
            .filter(apps::id.eq_any(ids))
            .select(App::as_select())
            .load(c)?)
    }
}
