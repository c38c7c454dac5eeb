//! Formation: how many dynos of each process type run, and how big.

use diesel::prelude::*;

use crate::db::schema::formations;
use crate::db::DbConnection;
use crate::error::Result;

/// How many dynos of a process type run, and how big.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = formations)]
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

impl Formation {
    /// Records a new formation entry.
    pub fn insert(c: &mut DbConnection, f: &Formation) -> Result<()> {
        diesel::insert_into(formations::table).values(f).execute(c)?;
        Ok(())
    }

    /// Every formation entry of every app.
    pub fn all(c: &mut DbConnection) -> Result<Vec<Formation>> {
        Ok(formations::table.select(Formation::as_select()).load(c)?)
    }

    /// An app's formation entries.
    pub fn of_app(c: &mut DbConnection, app_id: &str) -> Result<Vec<Formation>> {
        Ok(formations::table
            .filter(formations::app_id.eq(app_id))
            .select(Formation::as_select())
            .load(c)?)
    }

    /// The app's entry for this process type, if any.
    pub fn find_type(c: &mut DbConnection, app_id: &str, process_type: &str) -> Result<Option<Formation>> {
        Ok(formations::table
            .filter(
                formations::app_id
                    .eq(app_id)
                    .and(formations::process_type.eq(process_type)),
            )
            .select(Formation::as_select())
            .first(c)
            .optional()?)
    }

    /// Writes every field of this entry.
    pub fn save(&self, c: &mut DbConnection) -> Result<()> {
        diesel::update(formations::table.find(&self.id)).set(self).execute(c)?;
        Ok(())
    }

    /// Deletes the entry with this id.
    pub fn delete(c: &mut DbConnection, id: &str) -> Result<()> {
        diesel::delete(formations::table.find(id)).execute(c)?;
        Ok(())
    }
}
