//! Provider-set config of an instance (sealed).

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::Result;

/// The config a provider set on an instance (sealed credentials JSON).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::instance_configs)]
pub struct InstanceConfig {
    /// The instance.
    pub instance_id: String,
    /// Sealed [`providers::Credentials`].
    pub config: Vec<u8>,
    /// Last change (ms).
    pub updated_at: i64,
}

impl InstanceConfig {
    /// The row of an instance.
    pub fn find(conn: &mut DbConnection, instance_id: &str) -> Result<Option<InstanceConfig>> {
        use crate::db::schema::instance_configs::dsl;
        Ok(dsl::instance_configs
            .find(instance_id)
            .select(InstanceConfig::as_select())
            .first(conn)
            .optional()?)
    }

    /// Writes the row, replacing an earlier one.
    pub fn upsert(&self, conn: &mut DbConnection) -> Result<()> {
        use crate::db::schema::instance_configs::dsl;
        let updated = diesel::update(dsl::instance_configs.find(&self.instance_id))
            .set(self)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(dsl::instance_configs).values(self).execute(conn)?;
        }
        Ok(())
    }
}

// added by provisioning helper
impl InstanceConfig {
    /// Deletes an instance's row, if any (its config dies with the instance).
    pub fn delete(conn: &mut DbConnection, instance_id: &str) -> Result<()> {
        use crate::db::schema::instance_configs::dsl;
        diesel::delete(dsl::instance_configs.find(instance_id)).execute(conn)?;
        Ok(())
    }
}
