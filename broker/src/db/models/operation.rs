//! The operation journal: one row per asynchronous provider call, claimed with a lease.

use diesel::prelude::*;
use providers::OperationKind;

use crate::db::schema::operations;
use crate::db::DbConnection;
use crate::error::Result;

/// Operation states (the OSB `last_operation` states, stored in snake case).
pub mod op_state {
    /// Waiting to run, running, or waiting for a provider poll.
    pub const IN_PROGRESS: &str = "in_progress";
    /// Finished successfully.
    pub const SUCCEEDED: &str = "succeeded";
    /// Finished with an error.
    pub const FAILED: &str = "failed";
}

/// A row of the operation journal.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = operations)]
#[diesel(treat_none_as_null = true)]
pub struct Operation {
    /// Operation id, handed to the platform as `operation`.
    pub id: String,
    /// `provision`, `update`, `deprovision`, `bind` or `unbind`.
    pub kind: String,
    /// The instance it acts on.
    pub instance_id: String,
    /// The binding it acts on, for binding operations.
    pub binding_id: Option<String>,
    /// See [`op_state`].
    pub state: String,
    /// Human description of the outcome.
    pub description: Option<String>,
    /// What the operation is to do, as JSON text (target plan, parameters).
    pub request: String,
    /// Provider token for a pending backend operation.
    pub poll_token: Option<String>,
    /// How many times a worker has run it.
    pub attempts: i32,
    /// When a worker should next run it (ms).
    pub due_at: i64,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// Until when that worker holds it (ms).
    pub lease_expires_at: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// When it finished (ms).
    pub finished_at: Option<i64>,
}

impl Operation {
    /// A new in-progress operation, already leased to `lease_owner` until `lease_expires_at`:
    /// the request that writes it runs it at once; if that broker dies first, the lease lapses
    /// and any worker takes it over.
    pub fn new_leased(
        kind: OperationKind,
        instance_id: &str,
        binding_id: Option<&str>,
        request: String,
        lease_owner: &str,
        lease_expires_at: i64,
        now: i64,
    ) -> Operation {
        Operation {
            id: uuid::Uuid::new_v4().to_string(),
            kind: kind.as_str().to_string(),
            instance_id: instance_id.to_string(),
            binding_id: binding_id.map(str::to_string),
            state: op_state::IN_PROGRESS.to_string(),
            description: None,
            request,
            poll_token: None,
            attempts: 1,
            due_at: now,
            lease_owner: Some(lease_owner.to_string()),
            lease_expires_at: Some(lease_expires_at),
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    /// The kind as an enum; `None` for a kind this broker does not know.
    pub fn kind(&self) -> Option<OperationKind> {
        OperationKind::parse(&self.kind)
    }

    /// True when this operation is of `kind`.
    pub fn is(&self, kind: OperationKind) -> bool {
        self.kind == kind.as_str()
    }

    /// True while the operation has not finished.
    pub fn is_in_progress(&self) -> bool {
        self.state == op_state::IN_PROGRESS
    }

    /// Drops the lease (the outcome is about to be written).
    pub fn release_lease(&mut self, now: i64) {
        self.lease_owner = None;
        self.lease_expires_at = None;
        self.updated_at = now;
    }

    /// Marks the operation finished in `state` (see [`op_state`]) with a description.
    pub fn finish(&mut self, state: &str, description: String, now: i64) {
        self.state = state.to_string();
        self.description = Some(description);
        self.finished_at = Some(now);
    }

    /// Finds an operation.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Operation>> {
        Ok(operations::table
            .find(id)
            .select(Operation::as_select())
            .first(conn)
            .optional()?)
    }

    /// Inserts a new operation.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(operations::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Writes every column of this row.
    pub fn save(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::update(operations::table.find(&self.id))
            .set(self)
            .execute(conn)?;
        Ok(())
    }

    /// Ids of in-progress operations that are due and not leased (or whose lease expired).
    pub fn due(conn: &mut DbConnection, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(operations::table
            .filter(operations::state.eq(op_state::IN_PROGRESS))
            .filter(operations::due_at.le(now))
            .filter(
                operations::lease_expires_at
                    .is_null()
                    .or(operations::lease_expires_at.lt(now)),
            )
            .order(operations::due_at.asc())
            .limit(limit)
            .select(operations::id)
            .load(conn)?)
    }

    /// Claims an operation for `owner` until `until`: a compare-and-set that succeeds for one
    /// claimant only, on either backend, so several brokers can share one state store.
    pub fn claim(conn: &mut DbConnection, id: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
        let n = diesel::update(
            operations::table
                .find(id)
                .filter(operations::state.eq(op_state::IN_PROGRESS))
                .filter(
                    operations::lease_expires_at
                        .is_null()
                        .or(operations::lease_expires_at.lt(now)),
                ),
        )
        .set((
            operations::lease_owner.eq(owner),
            operations::lease_expires_at.eq(until),
            operations::attempts.eq(operations::attempts + 1),
            operations::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Frees the unexpired leases whose owner starts with `node_prefix` but not `own_prefix`
    /// (a previous run of this node); returns how many.
    pub fn release_previous_runs(
        conn: &mut DbConnection,
        node_prefix: &str,
        own_prefix: &str,
        now: i64,
    ) -> Result<usize> {
        Ok(diesel::update(
            operations::table
                .filter(operations::state.eq(op_state::IN_PROGRESS))
                .filter(operations::lease_owner.like(format!("{node_prefix}%")))
                .filter(operations::lease_owner.not_like(format!("{own_prefix}%")))
                .filter(operations::lease_expires_at.ge(now)),
        )
        .set((
            operations::lease_expires_at.eq(None::<i64>),
            operations::updated_at.eq(now),
        ))
        .execute(conn)?)
    }

    /// Extends a lease this owner still holds (and that has not lapsed); false when it was lost.
    pub fn renew(conn: &mut DbConnection, id: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
        let n = diesel::update(
            operations::table
                .find(id)
                .filter(operations::lease_owner.eq(owner))
                .filter(operations::lease_expires_at.ge(now))
                .filter(operations::state.eq(op_state::IN_PROGRESS)),
        )
        .set(operations::lease_expires_at.eq(until))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Counts operations per state, for metrics.
    pub fn count_in_state(conn: &mut DbConnection, state: &str) -> Result<i64> {
        Ok(operations::table
            .filter(operations::state.eq(state))
            .count()
            .get_result(conn)?)
    }
}

// added by marketplace helper
/// An operation with its instance's service id and its app's name, when the instance is an add-on.
type ListedOperation = (Operation, Option<String>, Option<String>);

impl Operation {
    /// The operator's list: operations in `scope` (state, kind, instance, services, app), each
    /// with its instance's service id and its app's name when the instance is an add-on.
    pub fn admin_list(conn: &mut DbConnection, scope: &super::provider::AdminScope) -> Result<Vec<ListedOperation>> {
        use crate::db::schema::{addons, apps, instances};
        let mut q = operations::table
            .left_join(instances::table.on(instances::id.eq(operations::instance_id)))
            .left_join(addons::table.on(addons::id.eq(operations::instance_id)))
            .left_join(apps::table.on(apps::id.eq(addons::app_id)))
            .into_boxed();
        if let Some(s) = &scope.state {
            q = q.filter(operations::state.eq(s.clone()));
        }
        if let Some(k) = &scope.kind {
            q = q.filter(operations::kind.eq(k.clone()));
        }
        if let Some(i) = &scope.instance {
            q = q.filter(operations::instance_id.eq(i.clone()));
        }
        if let Some(ids) = &scope.services {
            q = q.filter(instances::service_id.eq_any(ids.clone()));
        }
        if let Some(app) = &scope.app_id {
            q = q.filter(addons::app_id.eq(app.clone()));
        }
        Ok(q.select((
            Operation::as_select(),
            instances::service_id.nullable(),
            apps::name.nullable(),
        ))
        .load(conn)?)
    }
}
