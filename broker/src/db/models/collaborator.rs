//! Collaborators: people given access to an app by its owner.

use diesel::prelude::*;

use crate::db::schema::collaborators;
use crate::db::DbConnection;
use crate::error::Result;

/// A person's access to an app they do not own.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::collaborators)]
pub struct Collaborator {
    /// UUID.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// The person (a token subject).
    pub person: String,
    /// Who added them.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Collaborator {
    /// A new collaboration of `person` on an app, added by `by`.
    pub fn new(app_id: &str, person: &str, by: &str, now: i64) -> Collaborator {
        Collaborator {
            id: uuid::Uuid::new_v4().to_string(),
            app_id: app_id.to_string(),
            person: person.to_string(),
            created_by: by.to_string(),
            created_at: now,
            updated_at: now,
        }
    }

    /// `person`'s collaboration on an app, if any.
    pub fn get(conn: &mut DbConnection, app_id: &str, person: &str) -> Result<Option<Collaborator>> {
        Ok(collaborators::table
            .filter(collaborators::app_id.eq(app_id))
            .filter(collaborators::person.eq(person))
            .select(Collaborator::as_select())
            .first(conn)
            .optional()?)
    }

    /// A collaboration on an app by its id or its person, if any.
    pub fn find_in_app(conn: &mut DbConnection, app_id: &str, id_or_person: &str) -> Result<Option<Collaborator>> {
        Ok(collaborators::table
            .filter(collaborators::app_id.eq(app_id))
            .filter(
                collaborators::id
                    .eq(id_or_person)
                    .or(collaborators::person.eq(id_or_person)),
            )
            .select(Collaborator::as_select())
            .first(conn)
            .optional()?)
    }

    /// An app's collaborators, by person.
    pub fn of_app(conn: &mut DbConnection, app_id: &str) -> Result<Vec<Collaborator>> {
        Ok(collaborators::table
            .filter(collaborators::app_id.eq(app_id))
            .order(collaborators::person.asc())
            .select(Collaborator::as_select())
            .load(conn)?)
    }

    /// Inserts a new collaborator row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(collaborators::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Removes a collaboration.
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<()> {
        diesel::delete(collaborators::table.find(id)).execute(conn)?;
        Ok(())
    }
}
