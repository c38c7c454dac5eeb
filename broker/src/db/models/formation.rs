//! Formation: how many dynos of each process type run, and how big.

use diesel::prelude::*;

/// How many dynos of a process type run, and how big.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::formations)]
pub struct Formation {
    /// UUID.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// Process type (`web`).
    pub process_type: String,
    /// Dynos wanted.
    pub quantity: i32,
    /// Dyno size (`standard-1x`).
    pub size: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}
