//! The `redis` service: a key prefix per instance on a shared Redis (≥ 6.2) server, and an ACL
//! user per binding that may touch only that prefix.
//!
//! For instance id `I` and binding id `B`:
//! - key and channel prefix `ab:<stem(I)>:`;
//! - ACL user `abr.<stem(I)>.<stem(B)>`: `~ab:<stem(I)>:*` keys and `&ab:<stem(I)>:*` channels
//!   only, every command but the dangerous and administrative ones, and none of the commands that
//!   would see or reach beyond the prefix (`KEYS`, `SCAN`, `RANDOMKEY`, `SELECT`, `SWAPDB`,
//!   `MOVE`). The `shared` plan also denies scripting and blocking commands.
//!
//! Redis cannot enforce a memory or connection quota per user or per prefix, so the plans do not
//! promise one. ACL changes are persisted with `ACL SAVE` when the server runs with an ACL file.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use serde_json::{json, Value};
use sha2::Digest;
use tokio::sync::OnceCell;

use crate::catalog::{empty_object_schema, plan_schemas, Offering, PlanSpec};
use crate::names::stem;
use crate::{
    BindRequest, Credentials, DeprovisionRequest, Outcome, ProviderError, ProvisionRequest, Provisioned, Result,
    ServiceDef, UnbindRequest, UpdateRequest,
};

/// The public service name.
pub const SERVICE_NAME: &str = "redis";
/// Keys unlinked per `UNLINK` during deprovision.
const DELETE_BATCH: usize = 500;

/// Commands denied to every binding, beyond the `@dangerous` and `@admin` categories: each would
/// let a tenant see or reach beyond its prefix. `KEYS`, `SCAN`, `RANDOMKEY`, `DBSIZE`, `PUBSUB`
/// and `CLIENT TRACKING` (broadcast mode) reveal other tenants' keys or channels; `SELECT`,
/// `SWAPDB`, `MOVE` and `COPY … DB` reach other databases, which deprovision never scans;
/// functions and the script cache are server-wide, so `FUNCTION`, `SCRIPT FLUSH` and `SCRIPT KILL`
/// would act on other tenants' code.
const DENIED_COMMANDS: [&str; 13] = [
    "keys",
    "scan",
    "randomkey",
    "dbsize",
    "pubsub",
    "client|tracking",
    "select",
    "swapdb",
    "move",
    "copy",
    "function",
    "script|flush",
    "script|kill",
];

#[derive(Debug, Clone, Copy)]
struct PlanRules {
    name: &'static str,
    description: &'static str,
    /// Extra ACL rules of the plan.
    rules: &'static [&'static str],
}

const PLANS: [PlanRules; 2] = [
    PlanRules {
        name: "shared",
        description: "A key prefix on a shared Redis server. Enforced: keys and channels limited to the \
                      prefix, no dangerous, admin, scripting or blocking commands. Not enforceable by \
                      Redis: memory and connection quotas.",
        rules: &["-@scripting", "-@blocking"],
    },
    PlanRules {
        name: "shared-large",
        description: "A key prefix on a shared Redis server, with Lua scripting and blocking commands. \
                      Enforced: keys and channels limited to the prefix, no dangerous or admin commands. \
                      Not enforceable by Redis: memory and connection quotas.",
        rules: &[],
    },
];

/// How the adapter reaches its shared server.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Admin URL (`redis://admin:password@host:port`); the user needs `+@all ~* &*`.
    pub url: String,
    /// Host handed out in credentials when it differs from the admin URL's.
    pub public_host: Option<String>,
    /// Port handed out in credentials when it differs from the admin URL's.
    pub public_port: Option<u16>,
}

/// The `redis` provider.
pub struct RedisProvider {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    acl_file: OnceCell<bool>,
    host: String,
    port: u16,
    service: ServiceDef,
}

/// The instance's key and channel prefix.
pub fn key_prefix(instance_id: &str) -> String {
    format!("ab:{}:", stem(instance_id))
}

/// Prefix of the ACL user names of an instance's bindings. The separators (`.`) never occur in
/// a stem, so one instance's prefix can never match another instance's users.
pub fn user_prefix(instance_id: &str) -> String {
    format!("abr.{}.", stem(instance_id))
}

/// The ACL user of a binding.
pub fn binding_user(instance_id: &str, binding_id: &str) -> String {
    format!("{}{}", user_prefix(instance_id), stem(binding_id))
}

/// The `ACL SETUSER` arguments (after the user name) for a binding of `plan`. The password
/// goes as its SHA-256 (`#…`, what Redis stores anyway), so that no log of the command and no
/// `MONITOR` client sees it.
pub fn acl_rules(instance_id: &str, plan: &str, password: &str) -> Vec<String> {
    let prefix = key_prefix(instance_id);
    let mut rules = vec![
        "reset".to_string(),
        "on".into(),
        format!("#{}", hex::encode(sha2::Sha256::digest(password.as_bytes()))),
        format!("~{prefix}*"),
        format!("&{prefix}*"),
        "+@all".into(),
        "-@dangerous".into(),
        "-@admin".into(),
    ];
    rules.extend(DENIED_COMMANDS.iter().map(|c| format!("-{c}")));
    if let Some(p) = PLANS.iter().find(|p| p.name == plan) {
        rules.extend(p.rules.iter().map(|r| r.to_string()));
    }
    rules
}

/// Bounded waits and a short backoff: after a Redis restart the manager reconnects within
/// about a second, and an operation on a dead connection fails in seconds instead of hanging
/// (the job runner retries it, and says why).
fn manager_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(std::time::Duration::from_secs(2))
        .set_response_timeout(std::time::Duration::from_secs(5))
        .set_exponent_base(2)
        .set_factor(50)
        .set_max_delay(1_000)
        .set_number_of_retries(4)
}

fn classify(context: &str, err: redis::RedisError) -> ProviderError {
    if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() || err.is_timeout() {
        ProviderError::Transient(format!("{context}: {err}"))
    } else {
        ProviderError::Failed(format!("{context}: {err}"))
    }
}

fn build_service() -> ServiceDef {
    let offering = Offering {
        service: SERVICE_NAME,
        display_name: "Redis",
        description: "Redis key prefixes on a shared server, with an ACL user per binding",
        tags: &["redis", "key-value", "cache"],
        plan_updateable: false,
        maintenance: "Redis shared server, ACL user per binding",
    };
    offering.build(PLANS.iter().map(|p| PlanSpec {
        name: p.name.into(),
        description: p.description.into(),
        schemas: plan_schemas(empty_object_schema(), empty_object_schema(), empty_object_schema()),
        metadata: json!({}),
    }))
}

impl RedisProvider {
    /// A provider for the server at `config.url` (connected lazily).
    pub fn new(config: &RedisConfig) -> Result<Self> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(|e| ProviderError::Invalid(format!("redis url: {e}")))?;
        let (host, port) = match &client.get_connection_info().addr {
            redis::ConnectionAddr::Tcp(h, p) => (h.clone(), *p),
            redis::ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
            _ => ("127.0.0.1".to_string(), 6379),
        };
        Ok(RedisProvider {
            client,
            conn: OnceCell::new(),
            acl_file: OnceCell::new(),
            host: config.public_host.clone().unwrap_or(host),
            port: config.public_port.unwrap_or(port),
            service: build_service(),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager> {
        self.conn
            .get_or_try_init(|| async {
                ConnectionManager::new_with_config(self.client.clone(), manager_config())
                    .await
                    .map_err(|e| classify("connecting to the shared redis server", e))
            })
            .await
            .cloned()
    }

    /// Persists ACL changes when the server keeps them in a file.
    async fn save_acl(&self, conn: &mut ConnectionManager) -> Result<()> {
        let has_file = *self
            .acl_file
            .get_or_try_init(|| async {
                let mut c = conn.clone();
                let reply: Vec<String> = redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("aclfile")
                    .query_async(&mut c)
                    .await
                    .map_err(|e| classify("reading the ACL file setting", e))?;
                Ok::<bool, ProviderError>(reply.get(1).is_some_and(|v| !v.is_empty()))
            })
            .await?;
        if has_file {
            redis::cmd("ACL")
                .arg("SAVE")
                .query_async::<()>(conn)
                .await
                .map_err(|e| classify("saving the ACL file", e))?;
        }
        Ok(())
    }

    async fn delete_user(&self, conn: &mut ConnectionManager, user: &str) -> Result<()> {
        // Cut existing sessions first; DELUSER then removes the user (and any session that
        // slipped in between). Both succeed when the user is already gone.
        let _: redis::RedisResult<i64> = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(user)
            .query_async(conn)
            .await;
        redis::cmd("ACL")
            .arg("DELUSER")
            .arg(user)
            .query_async::<i64>(conn)
            .await
            .map_err(|e| classify("deleting the ACL user", e))?;
        Ok(())
    }
}

#[async_trait]
impl crate::Provider for RedisProvider {
    fn service(&self) -> &ServiceDef {
        &self.service
    }

    fn check_update(&self, request: &UpdateRequest) -> Result<(), String> {
        if request.from_plan.id != request.to_plan.id {
            return Err("redis plans cannot be changed in place; create a new add-on".into());
        }
        Ok(())
    }

    async fn provision(&self, _request: &ProvisionRequest) -> Result<Outcome<Provisioned>> {
        // The prefix needs nothing on the server; provisioning proves the server answers.
        self.health().await?;
        Ok(Outcome::Done(Provisioned::default()))
    }

    async fn update(&self, _request: &UpdateRequest) -> Result<Outcome<()>> {
        Ok(Outcome::Done(()))
    }

    async fn deprovision(&self, request: &DeprovisionRequest) -> Result<Outcome<()>> {
        let mut conn = self.conn().await?;
        // Users first: deleting them cuts their sessions, so no tenant writes new keys while
        // the prefix is being emptied.
        let users: Vec<String> = redis::cmd("ACL")
            .arg("USERS")
            .query_async(&mut conn)
            .await
            .map_err(|e| classify("listing ACL users", e))?;
        let prefix = user_prefix(&request.instance_id);
        for user in users.iter().filter(|u| u.starts_with(&prefix)) {
            self.delete_user(&mut conn, user).await?;
        }
        self.save_acl(&mut conn).await?;
        let pattern = format!("{}*", key_prefix(&request.instance_id));
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(|e| classify("scanning the instance's keys", e))?;
            for batch in keys.chunks(DELETE_BATCH) {
                redis::cmd("UNLINK")
                    .arg(batch)
                    .query_async::<i64>(&mut conn)
                    .await
                    .map_err(|e| classify("deleting the instance's keys", e))?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(Outcome::Done(()))
    }

    async fn bind(&self, request: &BindRequest) -> Result<Outcome<Credentials>> {
        let mut conn = self.conn().await?;
        let user = binding_user(&request.instance_id, &request.binding_id);
        let password = request.password.clone();
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg(acl_rules(&request.instance_id, &request.plan.name, &password))
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| classify("creating the ACL user", e))?;
        self.save_acl(&mut conn).await?;
        let prefix = key_prefix(&request.instance_id);
        let uri = format!("redis://{user}:{password}@{}:{}", self.host, self.port);
        let mut values = serde_json::Map::new();
        values.insert("uri".into(), json!(uri));
        values.insert("host".into(), json!(self.host));
        values.insert("port".into(), json!(self.port));
        values.insert("username".into(), json!(user));
        values.insert("password".into(), json!(password));
        values.insert("prefix".into(), Value::String(prefix.clone()));
        let env = [("URL".to_string(), uri), ("PREFIX".to_string(), prefix)]
            .into_iter()
            .collect();
        Ok(Outcome::Done(Credentials { values, env }))
    }

    async fn unbind(&self, request: &UnbindRequest) -> Result<Outcome<()>> {
        let mut conn = self.conn().await?;
        self.delete_user(&mut conn, &binding_user(&request.instance_id, &request.binding_id))
            .await?;
        self.save_acl(&mut conn).await?;
        Ok(Outcome::Done(()))
    }

    async fn health(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| classify("health check", e))?;
        Ok(())
    }
}
