//! The `postgresql` service: a database and an owner role per instance on a shared PostgreSQL
//! server, and a login role per binding.
//!
//! Layout on the server, for instance id `I` and binding id `B`:
//! - database `abd_<stem(I)>`, copied from [`TEMPLATE_DATABASE`] and owned by the broker's admin
//!   role, with `CONNECT` and `TEMPORARY` revoked from `PUBLIC` and granted to the NOLOGIN role
//!   `abo_<stem(I)>`, and a per-plan connection limit that no tenant can change;
//! - login role `abb_<stem(B)>` per binding, member of the owner role, whose sessions in the
//!   instance database run as the owner role (`ALTER ROLE … IN DATABASE … SET role`) so that
//!   whatever one binding creates, the others can use, and dropping one binding loses no data.
//!
//! Every step is idempotent, and every operation on an instance holds a session-level advisory
//! lock keyed by the instance id ([`advisory_lock_key`]) so that two brokers that both believe
//! they own an operation never interleave their statements.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use crate::catalog::{empty_object_schema, plan_schemas, Offering, PlanSpec};
use crate::names::{quote_ident, quote_literal, random_password, stem};
use crate::{
    BindRequest, Credentials, DeprovisionRequest, Outcome, PlanDef, ProviderError, ProvisionRequest, Provisioned,
    Result, ServiceDef, UnbindRequest, UpdateRequest,
};

/// The public service name.
pub const SERVICE_NAME: &str = "postgresql";
/// First half of every advisory lock key the adapter takes ("AB" for addon-broker).
pub const ADVISORY_LOCK_CLASS: i32 = 0x4142;
/// The template every instance database is copied from: template1 plus `CREATE` on schema
/// `public` for `PUBLIC`, so that the instance's roles can create objects although the database
/// itself belongs to the broker's admin role (an owner could lift its own connection limit).
/// Only roles with `CONNECT` on a database, the instance's, can use that grant.
pub const TEMPLATE_DATABASE: &str = "abt_template";
/// Length of generated binding passwords.
const PASSWORD_LEN: usize = 32;

/// A plan of the service and the limits it enforces.
#[derive(Debug, Clone, Copy)]
struct PlanLimits {
    name: &'static str,
    /// Highest `connection_limit` the plan allows, and the default.
    max_connections: i64,
    description: &'static str,
}

const PLANS: [PlanLimits; 2] = [
    PlanLimits {
        name: "shared",
        max_connections: 20,
        description: "A database on a shared PostgreSQL server, at most 20 connections.",
    },
    PlanLimits {
        name: "shared-large",
        max_connections: 100,
        description: "A database on a shared PostgreSQL server, at most 100 connections.",
    },
];

/// How the adapter reaches its shared server.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// Admin connection URL (`postgres://user:password@host:port/postgres`); the user needs
    /// `SUPERUSER`, or `CREATEDB` and `CREATEROLE` and membership of the roles it creates.
    pub url: String,
    /// Host name handed out in credentials when it differs from the admin URL's.
    pub public_host: Option<String>,
    /// Port handed out in credentials when it differs from the admin URL's.
    pub public_port: Option<u16>,
    /// Size of the admin connection pool.
    pub pool_size: usize,
}

/// The `postgresql` provider.
pub struct PostgresProvider {
    pool: Pool,
    admin: tokio_postgres::Config,
    admin_user: String,
    host: String,
    port: u16,
    service: ServiceDef,
    template_ready: std::sync::OnceLock<()>,
}

/// The advisory lock key (`pg_advisory_lock(class, key)`) the adapter holds while it works on
/// an instance. Public so that operators and tests can hold it to pause work on one instance.
pub fn advisory_lock_key(instance_id: &str) -> (i32, i32) {
    let digest = Sha256::digest(instance_id.as_bytes());
    let key = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (ADVISORY_LOCK_CLASS, key)
}

/// Name of the instance's database.
pub fn database_name(instance_id: &str) -> String {
    format!("abd_{}", stem(instance_id))
}

/// Name of the instance's NOLOGIN owner role.
pub fn owner_role(instance_id: &str) -> String {
    format!("abo_{}", stem(instance_id))
}

/// Name of a binding's login role.
pub fn binding_role(binding_id: &str) -> String {
    format!("abb_{}", stem(binding_id))
}

/// The SQL statements that create an instance, in order: what provisioning runs, and what the
/// benchmark runs directly for comparison.
pub fn provision_statements(instance_id: &str, connection_limit: i64) -> Vec<String> {
    let db = quote_ident(&database_name(instance_id));
    let owner = quote_ident(&owner_role(instance_id));
    let template = quote_ident(TEMPLATE_DATABASE);
    vec![
        format!("CREATE ROLE {owner} NOLOGIN"),
        format!("CREATE DATABASE {db} TEMPLATE {template} CONNECTION LIMIT {connection_limit}"),
        format!("REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC"),
        format!("GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {owner}"),
    ]
}

/// The SQL statements that create a binding's login role with `password`.
pub fn bind_statements(instance_id: &str, binding_id: &str, password: &str) -> Vec<String> {
    let db = quote_ident(&database_name(instance_id));
    let owner_name = owner_role(instance_id);
    let owner = quote_ident(&owner_name);
    let role = quote_ident(&binding_role(binding_id));
    vec![
        format!("CREATE ROLE {role} LOGIN PASSWORD {}", quote_literal(password)),
        format!("GRANT {owner} TO {role}"),
        format!(
            "ALTER ROLE {role} IN DATABASE {db} SET role TO {}",
            quote_literal(&owner_name)
        ),
    ]
}

fn plan_limits(plan: &PlanDef) -> Result<PlanLimits> {
    PLANS
        .iter()
        .find(|p| p.name == plan.name)
        .copied()
        .ok_or_else(|| ProviderError::Invalid(format!("unknown postgresql plan {:?}", plan.name)))
}

/// The effective connection limit: the `connection_limit` parameter, else the plan maximum.
fn connection_limit(limits: PlanLimits, parameters: &Value) -> i64 {
    parameters
        .get("connection_limit")
        .and_then(Value::as_i64)
        .unwrap_or(limits.max_connections)
}

fn build_service() -> ServiceDef {
    let offering = Offering {
        service: SERVICE_NAME,
        display_name: "PostgreSQL",
        description: "PostgreSQL databases on a shared server",
        tags: &["postgresql", "relational", "sql"],
        plan_updateable: true,
        maintenance: "PostgreSQL shared server, owner role per instance",
    };
    offering.build(PLANS.iter().map(|p| {
        let params = json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "connection_limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": p.max_connections,
                    "description": "Maximum concurrent connections to the database.",
                },
            },
        });
        PlanSpec {
            name: p.name.into(),
            description: p.description.into(),
            schemas: plan_schemas(params.clone(), params, empty_object_schema()),
            metadata: json!({ "bullets": [format!("{} connections", p.max_connections)] }),
        }
    }))
}

fn classify(context: &str, err: tokio_postgres::Error) -> ProviderError {
    match err.as_db_error() {
        Some(db) => {
            let code = db.code();
            let transient = [
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::ADMIN_SHUTDOWN,
                SqlState::LOCK_NOT_AVAILABLE,
                SqlState::OBJECT_IN_USE,
            ];
            let message = format!("{context}: {} ({})", db.message(), code.code());
            if transient.contains(code) {
                ProviderError::Transient(message)
            } else {
                ProviderError::Failed(message)
            }
        }
        None => ProviderError::Transient(format!("{context}: {err}")),
    }
}

fn is_code(err: &tokio_postgres::Error, state: &SqlState) -> bool {
    err.code() == Some(state)
}

impl PostgresProvider {
    /// Connects the admin pool (lazily: the server need not be up yet).
    pub fn new(config: &PostgresConfig) -> Result<Self> {
        let admin: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| ProviderError::Invalid(format!("postgresql url: {e}")))?;
        let host = match (&config.public_host, admin.get_hosts().first()) {
            (Some(h), _) => h.clone(),
            (None, Some(tokio_postgres::config::Host::Tcp(h))) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        let port = config
            .public_port
            .or_else(|| admin.get_ports().first().copied())
            .unwrap_or(5432);
        let admin_user = admin.get_user().unwrap_or("postgres").to_string();
        let mut pool_config = admin.clone();
        pool_config.application_name("addon-broker");
        pool_config.connect_timeout(Duration::from_secs(10));
        let manager = Manager::from_config(
            pool_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .build()
            .map_err(|e| ProviderError::Invalid(format!("postgresql pool: {e}")))?;
        Ok(PostgresProvider {
            pool,
            admin,
            admin_user,
            host,
            port,
            service: build_service(),
            template_ready: std::sync::OnceLock::new(),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| ProviderError::Transient(format!("connecting to the shared postgresql server: {e}")))
    }

    /// Takes a pooled session and the instance's advisory lock on it.
    async fn lock(&self, instance_id: &str) -> Result<Locked> {
        let client = self.client().await?;
        let key = advisory_lock_key(instance_id);
        client
            .execute("SELECT pg_advisory_lock($1, $2)", &[&key.0, &key.1])
            .await
            .map_err(|e| classify("taking the instance lock", e))?;
        Ok(Locked {
            client: Some(client),
            key,
        })
    }
}

/// A pooled session holding an instance's advisory lock until [`Locked::release`].
struct Locked {
    /// `None` only after [`Locked::release`] or during drop.
    client: Option<deadpool_postgres::Object>,
    key: (i32, i32),
}

impl Locked {
    /// The session holding the lock.
    fn session(&self) -> Result<&tokio_postgres::Client> {
        self.client
            .as_deref()
            .map(|c| &**c)
            .ok_or_else(|| ProviderError::Failed("the locked session is gone".into()))
    }

    /// Releases the lock and hands `result` through.
    async fn release<T>(mut self, result: Result<T>) -> Result<T> {
        let (class, key) = self.key;
        if let Some(client) = self.client.take() {
            // If unlocking fails the session is broken; taking it out of the pool closes it,
            // which releases the lock on the server.
            if client
                .execute("SELECT pg_advisory_unlock($1, $2)", &[&class, &key])
                .await
                .is_err()
            {
                let _ = deadpool_postgres::Object::take(client);
            }
        }
        result
    }
}

impl Drop for Locked {
    /// A call cancelled while holding the lock (a provider time limit) must not hand a session
    /// that still holds it back to the pool: close the session instead, which frees the lock.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = deadpool_postgres::Object::take(client);
        }
    }
}

async fn role_exists(client: &tokio_postgres::Client, role: &str) -> Result<bool> {
    let row = client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .map_err(|e| classify("looking up a role", e))?;
    Ok(row.is_some())
}

async fn terminate_sessions(client: &tokio_postgres::Client, role: &str) -> Result<()> {
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            &[&role],
        )
        .await
        .map_err(|e| classify("terminating sessions", e))?;
    Ok(())
}

impl PostgresProvider {
    /// Makes [`TEMPLATE_DATABASE`] once per server (idempotent, under an advisory lock of its
    /// own; `datistemplate` is set last and marks it complete).
    async fn ensure_template(&self, client: &tokio_postgres::Client) -> Result<()> {
        if self.template_ready.get().is_some() {
            return Ok(());
        }
        let done = |row: Option<tokio_postgres::Row>| row.map(|r| r.get::<_, bool>(0)).unwrap_or(false);
        let lookup = "SELECT datistemplate FROM pg_database WHERE datname = $1";
        let row = client
            .query_opt(lookup, &[&TEMPLATE_DATABASE])
            .await
            .map_err(|e| classify("looking up the template", e))?;
        if !done(row) {
            client
                .execute("SELECT pg_advisory_lock($1, 0)", &[&ADVISORY_LOCK_CLASS])
                .await
                .map_err(|e| classify("taking the template lock", e))?;
            let result = self.make_template(client).await;
            let _ = client
                .execute("SELECT pg_advisory_unlock($1, 0)", &[&ADVISORY_LOCK_CLASS])
                .await;
            result?;
        }
        let _ = self.template_ready.set(());
        Ok(())
    }

    async fn make_template(&self, client: &tokio_postgres::Client) -> Result<()> {
        let lookup = "SELECT datistemplate FROM pg_database WHERE datname = $1";
        let row = client
            .query_opt(lookup, &[&TEMPLATE_DATABASE])
            .await
            .map_err(|e| classify("looking up the template", e))?;
        if row.as_ref().is_some_and(|r| r.get::<_, bool>(0)) {
            return Ok(());
        }
        let template = quote_ident(TEMPLATE_DATABASE);
        if row.is_none() {
            if let Err(e) = client.batch_execute(&format!("CREATE DATABASE {template}")).await {
                if !is_code(&e, &SqlState::DUPLICATE_DATABASE) {
                    return Err(classify("creating the template database", e));
                }
            }
        }
        let mut config = self.admin.clone();
        config.dbname(TEMPLATE_DATABASE);
        let (inner, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| classify("connecting to the template database", e))?;
        let task = tokio::spawn(connection);
        let granted = inner
            .batch_execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
            .await
            .map_err(|e| classify("preparing the template database", e));
        drop(inner);
        let _ = task.await;
        granted?;
        client
            .batch_execute(&format!("ALTER DATABASE {template} IS_TEMPLATE true"))
            .await
            .map_err(|e| classify("marking the template database", e))
    }

    async fn provision_locked(&self, client: &tokio_postgres::Client, instance_id: &str, limit: i64) -> Result<()> {
        self.ensure_template(client).await?;
        let statements = provision_statements(instance_id, limit);
        // Try first and treat "already exists" as done: one round trip on the common path.
        if let Err(e) = client.batch_execute(&statements[0]).await {
            if !is_code(&e, &SqlState::DUPLICATE_OBJECT) {
                return Err(classify("creating the owner role", e));
            }
        }
        if let Err(e) = client.batch_execute(&statements[1]).await {
            if !is_code(&e, &SqlState::DUPLICATE_DATABASE) {
                return Err(classify("creating the database", e));
            }
            // An earlier attempt made it; converge on the limit this attempt asks for.
            let db = quote_ident(&database_name(instance_id));
            client
                .batch_execute(&format!("ALTER DATABASE {db} CONNECTION LIMIT {limit}"))
                .await
                .map_err(|e| classify("setting the connection limit", e))?;
        }
        client
            .batch_execute(&statements[2])
            .await
            .map_err(|e| classify("revoking public access", e))?;
        client
            .batch_execute(&statements[3])
            .await
            .map_err(|e| classify("granting the owner role access", e))?;
        Ok(())
    }

    async fn deprovision_locked(&self, client: &tokio_postgres::Client, instance_id: &str) -> Result<()> {
        let db = quote_ident(&database_name(instance_id));
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .await
            .map_err(|e| classify("dropping the database", e))?;
        let owner = owner_role(instance_id);
        let members = client
            .query(
                "SELECT r.rolname FROM pg_auth_members m \
                 JOIN pg_roles r ON r.oid = m.member \
                 JOIN pg_roles o ON o.oid = m.roleid WHERE o.rolname = $1",
                &[&owner],
            )
            .await
            .map_err(|e| classify("listing binding roles", e))?;
        for row in members {
            let member: String = row.get(0);
            if member != self.admin_user {
                self.drop_binding_role(client, instance_id, &member).await?;
            }
        }
        client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote_ident(&owner)))
            .await
            .map_err(|e| classify("dropping the owner role", e))
    }

    async fn bind_locked(
        &self,
        client: &tokio_postgres::Client,
        instance_id: &str,
        binding_id: &str,
        password: &str,
    ) -> Result<()> {
        let statements = bind_statements(instance_id, binding_id, password);
        let role = binding_role(binding_id);
        match client.batch_execute(&statements[0]).await {
            Ok(()) => {}
            Err(e) if is_code(&e, &SqlState::DUPLICATE_OBJECT) => {
                // An earlier attempt made the role but its password was never handed out: set
                // a fresh one.
                let sql = format!(
                    "ALTER ROLE {} WITH LOGIN PASSWORD {}",
                    quote_ident(&role),
                    quote_literal(password)
                );
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| classify("resetting the binding password", e))?;
            }
            Err(e) => return Err(classify("creating the binding role", e)),
        }
        client
            .batch_execute(&statements[1])
            .await
            .map_err(|e| classify("granting the owner role", e))?;
        client
            .batch_execute(&statements[2])
            .await
            .map_err(|e| classify("setting the session role", e))?;
        Ok(())
    }

    async fn drop_binding_role(&self, client: &tokio_postgres::Client, instance_id: &str, role: &str) -> Result<()> {
        if !role_exists(client, role).await? {
            return Ok(());
        }
        // Stop new logins first, so nothing reconnects between the kill and the drop.
        client
            .batch_execute(&format!("ALTER ROLE {} NOLOGIN", quote_ident(role)))
            .await
            .map_err(|e| classify("disabling the binding role", e))?;
        terminate_sessions(client, role).await?;
        match client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote_ident(role)))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_code(&e, &SqlState::DEPENDENT_OBJECTS_STILL_EXIST) => {
                // The role owns objects itself (it reset its role before creating them, maybe
                // in another database it could connect to): hand them to the owner role in
                // every database that holds some, then drop the role.
                let rows = client
                    .query(
                        "SELECT DISTINCT d.datname FROM pg_shdepend s \
                         JOIN pg_database d ON d.oid = s.dbid \
                         JOIN pg_roles r ON r.oid = s.refobjid WHERE r.rolname = $1",
                        &[&role],
                    )
                    .await
                    .map_err(|e| classify("finding the role's objects", e))?;
                for row in rows {
                    let database: String = row.get(0);
                    self.reassign_owned(&database, instance_id, role).await?;
                }
                client
                    .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote_ident(role)))
                    .await
                    .map_err(|e| classify("dropping the binding role", e))
            }
            Err(e) => Err(classify("dropping the binding role", e)),
        }
    }

    async fn reassign_owned(&self, database: &str, instance_id: &str, role: &str) -> Result<()> {
        let mut config = self.admin.clone();
        config.dbname(database);
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| classify("connecting to the instance database", e))?;
        let task = tokio::spawn(connection);
        let sql = format!(
            "REASSIGN OWNED BY {role} TO {owner}; DROP OWNED BY {role}",
            role = quote_ident(role),
            owner = quote_ident(&owner_role(instance_id)),
        );
        let result = client
            .batch_execute(&sql)
            .await
            .map_err(|e| classify("reassigning owned objects", e));
        drop(client);
        let _ = task.await;
        result
    }
}

#[async_trait]
impl crate::Provider for PostgresProvider {
    fn service(&self) -> &ServiceDef {
        &self.service
    }

    fn check_update(&self, request: &UpdateRequest) -> Result<(), String> {
        let to = plan_limits(&request.to_plan).map_err(|e| e.to_string())?;
        let wanted = connection_limit(to, &request.parameters);
        if wanted > to.max_connections {
            return Err(format!(
                "connection_limit {wanted} exceeds the maximum of plan {} ({}); lower connection_limit first",
                to.name, to.max_connections
            ));
        }
        Ok(())
    }

    async fn provision(&self, request: &ProvisionRequest) -> Result<Outcome<Provisioned>> {
        let limits = plan_limits(&request.plan)?;
        let limit = connection_limit(limits, &request.parameters);
        let locked = self.lock(&request.instance_id).await?;
        let result = self
            .provision_locked(locked.session()?, &request.instance_id, limit)
            .await;
        locked.release(result).await?;
        Ok(Outcome::Done(Provisioned::default()))
    }

    async fn update(&self, request: &UpdateRequest) -> Result<Outcome<()>> {
        self.check_update(request).map_err(ProviderError::Invalid)?;
        let limit = connection_limit(plan_limits(&request.to_plan)?, &request.parameters);
        let db = quote_ident(&database_name(&request.instance_id));
        let locked = self.lock(&request.instance_id).await?;
        let result = locked
            .session()?
            .batch_execute(&format!("ALTER DATABASE {db} CONNECTION LIMIT {limit}"))
            .await
            .map_err(|e| classify("changing the connection limit", e));
        locked.release(result).await?;
        Ok(Outcome::Done(()))
    }

    async fn deprovision(&self, request: &DeprovisionRequest) -> Result<Outcome<()>> {
        let locked = self.lock(&request.instance_id).await?;
        let result = self.deprovision_locked(locked.session()?, &request.instance_id).await;
        locked.release(result).await?;
        Ok(Outcome::Done(()))
    }

    async fn bind(&self, request: &BindRequest) -> Result<Outcome<Credentials>> {
        plan_limits(&request.plan)?;
        let password = random_password(PASSWORD_LEN);
        let locked = self.lock(&request.instance_id).await?;
        let result = self
            .bind_locked(locked.session()?, &request.instance_id, &request.binding_id, &password)
            .await;
        locked.release(result).await?;
        let database = database_name(&request.instance_id);
        let username = binding_role(&request.binding_id);
        let uri = format!(
            "postgres://{username}:{password}@{}:{}/{database}",
            self.host, self.port
        );
        let mut values = serde_json::Map::new();
        values.insert("uri".into(), json!(uri));
        values.insert("host".into(), json!(self.host));
        values.insert("port".into(), json!(self.port));
        values.insert("database".into(), json!(database));
        values.insert("username".into(), json!(username));
        values.insert("password".into(), json!(password));
        let env = [("URL".to_string(), uri)].into_iter().collect();
        Ok(Outcome::Done(Credentials { values, env }))
    }

    async fn unbind(&self, request: &UnbindRequest) -> Result<Outcome<()>> {
        let role = binding_role(&request.binding_id);
        let locked = self.lock(&request.instance_id).await?;
        let result = self
            .drop_binding_role(locked.session()?, &request.instance_id, &role)
            .await;
        locked.release(result).await?;
        Ok(Outcome::Done(()))
    }

    async fn health(&self) -> Result<()> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| classify("health check", e))?;
        Ok(())
    }
}
