//! Add-ons: service instances owned by apps.

use diesel::prelude::*;

/// An add-on: a service instance owned by an app.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::addons)]
pub struct Addon {
    /// UUID; also the OSB instance id.
    pub id: String,
    /// Unique name (`postgresql-amber-1234`).
    pub name: String,
    /// The owning app.
    pub app_id: String,
    /// Catalog service name.
    pub service: String,
    /// Catalog plan name.
    pub plan: String,
    /// Plan parameters as JSON text.
    pub config: String,
    /// `provisioning`, `provisioned`, `deprovisioning` or `failed`.
    pub state: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

// added by marketplace helper
impl Addon {
    /// The add-on whose OSB instance this is (add-on ids are instance ids), if any.
    pub fn of_instance(conn: &mut crate::db::DbConnection, instance_id: &str) -> crate::error::Result<Option<Addon>> {
        use crate::db::schema::addons;
        Ok(addons::table
            .find(instance_id)
            .select(Addon::as_select())
            .first(conn)
            .optional()?)
    }
}
