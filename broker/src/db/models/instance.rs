//! Service instances (OSB) and their states.

use diesel::prelude::*;

use crate::db::schema::instances;
use crate::db::DbConnection;
use crate::error::Result;

/// Instance states.
pub mod instance_state {
    /// Provision accepted, not finished.
    pub const PROVISIONING: &str = "provisioning";
    /// Provisioned and usable.
    pub const PROVISIONED: &str = "provisioned";
    /// Provision failed; the platform may deprovision to clean up.
    pub const FAILED: &str = "failed";
    /// Deprovisioned: a tombstone kept so that `last_operation` still answers.
    pub const DEPROVISIONED: &str = "deprovisioned";
}

/// A service instance row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = instances)]
#[diesel(treat_none_as_null = true)]
pub struct Instance {
    /// OSB instance id.
    pub id: String,
    /// Catalog service id.
    pub service_id: String,
    /// Catalog plan id.
    pub plan_id: String,
    /// Parameters as JSON text.
    pub parameters: String,
    /// OSB context as JSON text.
    pub context: String,
    /// Deprecated OSB field, kept for identical-request checks.
    pub organization_guid: String,
    /// Deprecated OSB field, kept for identical-request checks.
    pub space_guid: String,
    /// The maintenance version the instance runs at.
    pub maintenance_version: Option<String>,
    /// Dashboard URL from the provider.
    pub dashboard_url: Option<String>,
    /// See [`instance_state`].
    pub state: String,
    /// The instance-level operation in progress, if any.
    pub active_operation_id: Option<String>,
    /// The latest instance-level operation.
    pub last_operation_id: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Instance {
    /// Finds an instance, tombstones included.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Instance>> {
        Ok(instances::table
            .find(id)
            .select(Instance::as_select())
            .first(conn)
            .optional()?)
    }

    /// Inserts a new instance row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(instances::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Writes every column of this row.
    pub fn save(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::update(instances::table.find(&self.id))
            .set(self)
            .execute(conn)?;
        Ok(())
    }

    /// Records `op_id` as the instance's running and latest operation.
    pub fn begin_operation(&mut self, op_id: &str, now: i64) {
        self.active_operation_id = Some(op_id.to_string());
        self.last_operation_id = Some(op_id.to_string());
        self.updated_at = now;
    }

    /// Clears the running operation (it finished).
    pub fn end_operation(&mut self, now: i64) {
        self.active_operation_id = None;
        self.updated_at = now;
    }

    /// True when provisioned and no operation is changing it.
    pub fn is_idle_and_provisioned(&self) -> bool {
        self.state == instance_state::PROVISIONED && self.active_operation_id.is_none()
    }

    /// True when the instance exists for the platform (not deprovisioned).
    pub fn is_live(&self) -> bool {
        self.state != instance_state::DEPROVISIONED
    }

    /// Counts live instances.
    pub fn count_live(conn: &mut DbConnection) -> Result<i64> {
        Ok(instances::table
            .filter(instances::state.ne(instance_state::DEPROVISIONED))
            .count()
            .get_result(conn)?)
    }
}

// added by marketplace helper
/// An instance with the names of its add-on and app, when it is an add-on.
type ListedInstance = (Instance, Option<String>, Option<String>);

impl Instance {
    /// Live instances of these catalog services.
    pub fn live_of_services(conn: &mut DbConnection, service_ids: &[String]) -> Result<Vec<Instance>> {
        Ok(instances::table
            .filter(instances::service_id.eq_any(service_ids))
            .filter(instances::state.ne(instance_state::DEPROVISIONED))
            .select(Instance::as_select())
            .load(conn)?)
    }

    /// Counts live instances of these catalog services.
    pub fn count_live_of_services(conn: &mut DbConnection, service_ids: &[String]) -> Result<i64> {
        Ok(instances::table
            .filter(instances::service_id.eq_any(service_ids))
            .filter(instances::state.ne(instance_state::DEPROVISIONED))
            .count()
            .get_result(conn)?)
    }

    /// The operator's list: instances in `scope` (state, services, app), each with the names of
    /// its add-on and app when it is one.
    pub fn admin_list(conn: &mut DbConnection, scope: &super::provider::AdminScope) -> Result<Vec<ListedInstance>> {
        use crate::db::schema::{addons, apps};
        let mut q = instances::table
            .left_join(addons::table.on(addons::id.eq(instances::id)))
            .left_join(apps::table.on(apps::id.eq(addons::app_id)))
            .into_boxed();
        if let Some(s) = &scope.state {
            q = q.filter(instances::state.eq(s.clone()));
        }
        if let Some(ids) = &scope.services {
            q = q.filter(instances::service_id.eq_any(ids.clone()));
        }
        if let Some(app) = &scope.app_id {
            q = q.filter(addons::app_id.eq(app.clone()));
        }
        Ok(
            q.select((Instance::as_select(), addons::name.nullable(), apps::name.nullable()))
                .load(conn)?,
        )
    }
}
