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
use crate::names::{quote_ident, quote_literal, stem};
use crate::{
    BindRequest, Credentials, DeprovisionRequest, Outcome, PlanDef, ProviderError, ProvisionRequest, Provisioned,
    Result, ServiceDef, UnbindRequest, UpdateRequest,
};

mod operations;
mod session;

/// The public service name.
pub const SERVICE_NAME: &str = "postgresql";
/// First half of every advisory lock key the adapter takes ("AB" for addon-broker).
pub const ADVISORY_LOCK_CLASS: i32 = 0x4142;
/// The template every instance database is copied from: template1 plus `CREATE` on schema
/// `public` for `PUBLIC`, so that the instance's roles can create objects although the database
/// itself belongs to the broker's admin role (an owner could lift its own connection limit).
/// Only roles with `CONNECT` on a database, the instance's, can use that grant.
pub const TEMPLATE_DATABASE: &str = "abt_template";

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

/// The SQL statements that create a binding's login role with `password`. The statement
/// carries the password's SCRAM-SHA-256 verifier, never the password: SQL text reaches
/// drivers' debug logs and the server's statement log, and the verifier is what PostgreSQL
/// stores anyway.
pub fn bind_statements(instance_id: &str, binding_id: &str, password: &str) -> Vec<String> {
    let db = quote_ident(&database_name(instance_id));
    let owner_name = owner_role(instance_id);
    let owner = quote_ident(&owner_name);
    let role = quote_ident(&binding_role(binding_id));
    vec![
        format!("CREATE ROLE {role} LOGIN PASSWORD {}", password_verifier(password)),
        format!("GRANT {owner} TO {role}"),
        format!(
            "ALTER ROLE {role} IN DATABASE {db} SET role TO {}",
            quote_literal(&owner_name)
        ),
    ]
}

/// The quoted SCRAM-SHA-256 verifier of `password` (random salt, 4096 iterations, as
/// PostgreSQL makes it), for `PASSWORD` clauses.
pub fn password_verifier(password: &str) -> String {
    quote_literal(&postgres_protocol::password::scram_sha_256(password.as_bytes()))
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
