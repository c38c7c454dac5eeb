//! Rows of the state store and the queries on them.

use diesel::prelude::*;

use super::schema::{audit_log, bindings, instances, operations};
use super::DbConnection;
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

/// Operation states (the OSB `last_operation` states, stored in snake case).
pub mod op_state {
    /// Waiting to run, running, or waiting for a provider poll.
    pub const IN_PROGRESS: &str = "in_progress";
    /// Finished successfully.
    pub const SUCCEEDED: &str = "succeeded";
    /// Finished with an error.
    pub const FAILED: &str = "failed";
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

/// One audit log entry.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    /// Entry id.
    pub id: String,
    /// When (ms).
    pub at: i64,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// Who: the platform's originating identity, or the token subject.
    pub actor: Option<String>,
    /// What (`osb.provision` …).
    pub action: String,
    /// On what (`instance/<id>` …).
    pub target: String,
    /// Details as JSON text (never secrets).
    pub detail: String,
}

impl AuditEntry {
    /// Appends the entry.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(audit_log::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Entries about a target, oldest first.
    pub fn for_target(conn: &mut DbConnection, target: &str) -> Result<Vec<AuditEntry>> {
        Ok(audit_log::table
            .filter(audit_log::target.eq(target))
            .order(audit_log::at.asc())
            .select(AuditEntry::as_select())
            .load(conn)?)
    }
}

/// An app of the platform API.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::apps)]
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

/// A release: a numbered, sealed snapshot of an app's config vars.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::releases)]
pub struct Release {
    /// UUID.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// 1, 2, 3 … per app.
    pub version: i32,
    /// What changed ("Set FOO config vars").
    pub description: String,
    /// Sealed JSON object of the config vars.
    pub config: Vec<u8>,
    /// JSON list of the attached add-ons' `service:plan`.
    pub addon_plan_names: String,
    /// `succeeded`.
    pub status: String,
    /// Token subject that caused it.
    pub created_by: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// The slug (code) it runs; `None` before the first build.
    pub slug_id: Option<String>,
}

/// An app's code: an unpacked archive with its Procfile's process types.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::slugs)]
pub struct Slug {
    /// UUID; also its directory name under `<data_dir>/slugs`.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// JSON object: process type → command.
    pub process_types: String,
    /// Unpacked size in bytes.
    pub size: i64,
    /// `SHA256:<hex>` of the uploaded archive.
    pub checksum: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// A build: an uploaded archive turned into a slug and (when it succeeds) a release.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::builds)]
pub struct Build {
    /// UUID.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// The slug, once unpacked.
    pub slug_id: Option<String>,
    /// The release it made, when it succeeded.
    pub release_version: Option<i32>,
    /// What the build and its release phase printed.
    pub output: String,
    /// Token subject that started it.
    pub created_by: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// How many dynos of a process type run, and how big.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::formations)]
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

/// An add-on: a service instance owned by an app.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::addons)]
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

/// An attachment of an add-on to an app, with its own binding.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::addon_attachments)]
pub struct Attachment {
    /// UUID; also the OSB binding id.
    pub id: String,
    /// The add-on.
    pub addon_id: String,
    /// The app it is attached to.
    pub app_id: String,
    /// Config var prefix (`DATABASE`).
    pub name: String,
    /// `pending` (binding, vars not yet released), `attached`, `detaching`.
    pub state: String,
    /// JSON list of the config var names it set.
    pub vars: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A registered third-party provider: a partner (`kind = "partner"`, spec = its manifest) or a
/// federated OSB broker (`kind = "osb"`, spec = its URL and credentials). The spec holds
/// secrets and is sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::marketplace_providers)]
#[diesel(treat_none_as_null = true)]
pub struct MarketProvider {
    /// The provider's slug.
    pub id: String,
    /// `partner` or `osb`.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// `pending`, `approved` or `disabled`.
    pub state: String,
    /// Sealed JSON of the manifest or upstream settings.
    pub spec: Vec<u8>,
    /// Federation: the upstream catalog as last fetched (JSON text).
    pub catalog: Option<String>,
    /// Who registered it.
    pub registered_by: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// The config a provider set on an instance (sealed credentials JSON).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::instance_configs)]
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
        use super::schema::instance_configs::dsl;
        Ok(dsl::instance_configs
            .find(instance_id)
            .select(InstanceConfig::as_select())
            .first(conn)
            .optional()?)
    }

    /// Writes the row, replacing an earlier one.
    pub fn upsert(&self, conn: &mut DbConnection) -> Result<()> {
        use super::schema::instance_configs::dsl;
        let updated = diesel::update(dsl::instance_configs.find(&self.instance_id))
            .set(self)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(dsl::instance_configs).values(self).execute(conn)?;
        }
        Ok(())
    }
}

/// Records a callback signature; false when it was seen before (a replay).
pub fn remember_signature(conn: &mut DbConnection, provider_id: &str, mac: &str, now: i64) -> Result<bool> {
    use super::schema::callback_nonces::dsl;
    // Signatures older than the replay window can never verify again: forget them.
    diesel::delete(dsl::callback_nonces.filter(dsl::seen_at.lt(now - 2 * 300_000))).execute(conn)?;
    let seen: i64 = dsl::callback_nonces
        .filter(dsl::provider_id.eq(provider_id))
        .filter(dsl::mac.eq(mac))
        .count()
        .get_result(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    diesel::insert_into(dsl::callback_nonces)
        .values((dsl::provider_id.eq(provider_id), dsl::mac.eq(mac), dsl::seen_at.eq(now)))
        .execute(conn)?;
    Ok(true)
}
