//! Custom domains of apps and their queries. The router maps a request's `Host` onto an app
//! with [`Domain::find_by_hostname`].

use diesel::prelude::*;

use crate::db::schema::domains;
use crate::db::DbConnection;
use crate::error::Result;

/// A hostname added to an app (its default `{app}.{router.domain}` is not a row).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::domains)]
pub struct Domain {
    /// UUID.
    pub id: String,
    /// The app it routes to.
    pub app_id: String,
    /// Lowercase, without a port or a trailing dot; unique across apps.
    pub hostname: String,
    /// When it was added (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Domain {
    /// Inserts a new domain row (a hostname already taken is a unique violation).
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(domains::table).values(self).execute(conn)?;
        Ok(())
    }

    /// An app's domains, by hostname.
    pub fn of_app(conn: &mut DbConnection, app_id: &str) -> Result<Vec<Domain>> {
        Ok(domains::table
            .filter(domains::app_id.eq(app_id))
            .order(domains::hostname.asc())
            .select(Domain::as_select())
            .load(conn)?)
    }

    /// The domain of this hostname (lowercase, no port), on whichever app: one lookup on the
    /// unique index, for the router.
    pub fn find_by_hostname(conn: &mut DbConnection, hostname: &str) -> Result<Option<Domain>> {
        Ok(domains::table
            .filter(domains::hostname.eq(hostname))
            .select(Domain::as_select())
            .first(conn)
            .optional()?)
    }

    /// Deletes a domain; true when there was one.
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<bool> {
        Ok(diesel::delete(domains::table.find(id)).execute(conn)? > 0)
    }
}
