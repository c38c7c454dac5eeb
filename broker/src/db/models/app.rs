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

// added by marketplace helper
impl App {
    /// The id of the app named by its id or its name, if any.
    pub fn resolve_id(conn: &mut crate::db::DbConnection, id_or_name: &str) -> crate::error::Result<Option<String>> {
        use crate::db::schema::apps;
        Ok(apps::table
            .filter(apps::id.eq(id_or_name).or(apps::name.eq(id_or_name)))
            .select(apps::id)
            .first(conn)
            .optional()?)
    }
}
