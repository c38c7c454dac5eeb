//! Service bindings (OSB) and their states.

use diesel::prelude::*;

use crate::db::schema::bindings;
use crate::db::DbConnection;
use crate::error::Result;

/// Binding states.
pub mod binding_state {
    /// Bind accepted, not finished.
    pub const BINDING: &str = "binding";
    /// Credentials issued.
    pub const BOUND: &str = "bound";
    /// Bind failed.
    pub const FAILED: &str = "failed";
    /// Unbound: a tombstone.
    pub const UNBOUND: &str = "unbound";
}

/// A service binding row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = bindings)]
#[diesel(treat_none_as_null = true)]
pub struct Binding {
    /// OSB binding id.
    pub id: String,
    /// The instance it binds.
    pub instance_id: String,
    /// Service id given at bind time.
    pub service_id: String,
    /// Plan id given at bind time.
    pub plan_id: String,
    /// Binding parameters as JSON text.
    pub parameters: String,
    /// OSB context as JSON text.
    pub context: String,
    /// OSB `bind_resource` (with `app_guid` folded in) as JSON text.
    pub bind_resource: String,
    /// Sealed credentials (see `crypto`).
    pub credentials: Option<Vec<u8>>,
    /// See [`binding_state`].
    pub state: String,
    /// The binding operation in progress, if any.
    pub active_operation_id: Option<String>,
    /// The latest binding operation.
    pub last_operation_id: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Binding {
    /// Finds a binding of an instance, tombstones included.
    pub fn find(conn: &mut DbConnection, instance_id: &str, id: &str) -> Result<Option<Binding>> {
        Ok(bindings::table
            .find(id)
            .filter(bindings::instance_id.eq(instance_id))
            .select(Binding::as_select())
            .first(conn)
            .optional()?)
    }

    /// Finds a binding by id alone.
    pub fn find_any(conn: &mut DbConnection, id: &str) -> Result<Option<Binding>> {
        Ok(bindings::table
            .find(id)
            .select(Binding::as_select())
            .first(conn)
            .optional()?)
    }

    /// Inserts a new binding row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(bindings::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Writes every column of this row.
    pub fn save(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::update(bindings::table.find(&self.id)).set(self).execute(conn)?;
        Ok(())
    }

    /// Records `op_id` as the binding's running and latest operation.
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

    /// True unless the binding is an unbound tombstone.
    pub fn is_live(&self) -> bool {
        self.state != binding_state::UNBOUND
    }

    /// True when a binding operation of this instance is in progress.
    pub fn any_in_progress(conn: &mut DbConnection, instance_id: &str) -> Result<bool> {
        let n: i64 = bindings::table
            .filter(bindings::instance_id.eq(instance_id))
            .filter(bindings::active_operation_id.is_not_null())
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    /// Marks every live binding of an instance unbound (after its deprovision).
    pub fn tombstone_all(conn: &mut DbConnection, instance_id: &str, now: i64) -> Result<()> {
        diesel::update(
            bindings::table
                .filter(bindings::instance_id.eq(instance_id))
                .filter(bindings::state.ne(binding_state::UNBOUND)),
        )
        .set((
            bindings::state.eq(binding_state::UNBOUND),
            bindings::credentials.eq(None::<Vec<u8>>),
            bindings::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(())
    }
}

// added by marketplace helper
impl Binding {
    /// The bindings of an instance in `state`.
    pub fn of_instance_in_state(conn: &mut DbConnection, instance_id: &str, state: &str) -> Result<Vec<Binding>> {
        Ok(bindings::table
            .filter(bindings::instance_id.eq(instance_id))
            .filter(bindings::state.eq(state))
            .select(Binding::as_select())
            .load(conn)?)
    }

    /// The bindings of an instance that are not unbound.
    pub fn live_of_instance(conn: &mut DbConnection, instance_id: &str) -> Result<Vec<Binding>> {
        Ok(bindings::table
            .filter(bindings::instance_id.eq(instance_id))
            .filter(bindings::state.ne(binding_state::UNBOUND))
            .select(Binding::as_select())
            .load(conn)?)
    }
}
