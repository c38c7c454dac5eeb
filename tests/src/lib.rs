//! The test harness: real backing servers, started once per test process on free loopback
//! ports, and the real broker binary run as a subprocess over real HTTP.
//!
//! - [`servers`] starts an ephemeral PostgreSQL cluster (shared by the tests of one process;
//!   each test isolates itself by id).
//! - [`TestApp`] runs `broker serve` on port 0 against a fresh state store: SQLite by default,
//!   PostgreSQL when `BROKER_TEST_STATE=postgres` (CI runs both).
//! - [`Osb`] is a typed OSB client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use broker::devservers::{spawn_reaper, PostgresServer, RedisServer, TansuServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The shared backing servers of this test process.
pub struct Servers {
    /// The PostgreSQL cluster behind the `postgresql` service (and the PostgreSQL state stores).
    pub postgres: PostgresServer,
    /// The Redis server behind the `redis` service.
    pub redis: RedisServer,
    /// The Kafka-protocol broker behind the `kafka` service.
    pub kafka: TansuServer,
}

pub mod partner;

/// Starts the backing servers once per process.
pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| Servers {
        postgres: PostgresServer::start().expect("starting the ephemeral PostgreSQL cluster"),
        redis: RedisServer::start().expect("starting the ephemeral Redis server"),
        kafka: TansuServer::start().expect("starting the ephemeral Kafka-protocol broker (tansu)"),
    })
}

/// A fresh unique id for a test's resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// Which state store the broker under test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateBackend {
    /// `sqlite://<temp dir>/broker.sqlite`.
    Sqlite,
    /// A fresh database on the shared PostgreSQL cluster.
    Postgres,
}

impl StateBackend {
    /// The backend chosen by `BROKER_TEST_STATE` (`sqlite`, the default, or `postgres`).
    pub fn from_env() -> StateBackend {
        match std::env::var("BROKER_TEST_STATE").as_deref() {
            Ok("postgres") => StateBackend::Postgres,
            _ => StateBackend::Sqlite,
        }
    }
}

/// How to start a broker under test.
#[derive(Debug, Clone)]
pub struct Options {
    /// State store backend.
    pub state: StateBackend,
    /// `osb.sync_timeout_ms`.
    pub sync_timeout_ms: u64,
    /// `jobs.lease_ms`.
    pub lease_ms: u64,
    /// `platform.create_wait_ms`.
    pub create_wait_ms: u64,
    /// `jobs.provider_timeout_ms`.
    pub provider_timeout_ms: u64,
    /// Admin URL of another PostgreSQL server for the `postgresql` service (default: the shared
    /// test cluster).
    pub postgres_url: Option<String>,
    /// `runtime.stop_grace_ms`.
    pub stop_grace_ms: u64,
    /// `runtime.backoff_initial_ms`.
    pub backoff_initial_ms: u64,
    /// `runtime.backoff_max_ms`.
    pub backoff_max_ms: u64,
    /// `runtime.restart_debounce_ms`.
    pub restart_debounce_ms: u64,
    /// `runtime.backend`: `local` (a host that cannot run dynos fails the start) or `none`.
    pub runtime_backend: &'static str,
    /// `jobs.max_attempts`.
    pub max_attempts: i32,
    /// `marketplace.request_timeout_ms`.
    pub partner_timeout_ms: u64,
    /// `marketplace.callback_deadline_ms`.
    pub callback_deadline_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state: StateBackend::from_env(),
            sync_timeout_ms: 30_000,
            lease_ms: 30_000,
            create_wait_ms: 10_000,
            provider_timeout_ms: 60_000,
            postgres_url: None,
            stop_grace_ms: 2_000,
            backoff_initial_ms: 300,
            backoff_max_ms: 600_000,
            restart_debounce_ms: 150,
            runtime_backend: "local",
            max_attempts: 5,
            partner_timeout_ms: 10_000,
            callback_deadline_ms: 60_000,
        }
    }
}

/// cgroup under which the brokers under test put their dynos.
pub const TEST_CGROUP: &str = "addon-broker-tests";

/// The token key of every broker under test.
pub const JWT_SECRET: &str = "test-secret-for-the-platform-api-0123456789";

/// A running broker subprocess and what is needed to talk to it.
pub struct TestApp {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// OSB basic auth user.
    pub user: String,
    /// OSB basic auth password.
    pub password: String,
    /// The state store URL.
    pub state_url: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
    reapers: Vec<broker::devservers::Reaper>,
}

/// The broker binary under test: `$BROKER_BIN`, else `broker-under-test` beside the test
/// executable's directory (cargo builds a package's binaries before its integration tests).
pub fn broker_bin() -> PathBuf {
    if let Ok(path) = std::env::var("BROKER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [
        deps.join("broker-under-test"),
        deps.parent().unwrap().join("broker-under-test"),
    ];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .expect("broker-under-test binary next to the tests (cargo test builds it)")
}

/// Connects to a database of the shared cluster as superuser.
pub async fn pg_connect(database: &str) -> tokio_postgres::Client {
    let url = servers().postgres.url(database);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connecting to the test cluster");
    tokio::spawn(connection);
    client
}

impl TestApp {
    /// Starts a broker with default options.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Options::default()).await
    }

    /// Starts a broker with these options.
    pub async fn spawn_with(options: Options) -> TestApp {
        let pg = &servers().postgres;
        let dir = tempfile::Builder::new().prefix("addon-broker-test-").tempdir().unwrap();
        // Dynos run as an unprivileged user that must reach their directories in here.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
        let state_url = match options.state {
            StateBackend::Sqlite => format!("sqlite://{}", dir.path().join("broker.sqlite").display()),
            StateBackend::Postgres => {
                let name = format!("state_{}", uuid::Uuid::new_v4().simple());
                pg_connect("postgres")
                    .await
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                pg.url(&name)
            }
        };
        let password = providers::names::random_password(24);
        let config = format!(
            r#"data_dir = "{data}"
[server]
listen = "127.0.0.1:0"
workers = 2
[database]
url = "{state_url}"
pool_size = 4
[auth]
jwt_secret = "{jwt_secret}"
[platform]
create_wait_ms = {create_wait}
reconcile_interval_ms = 100
[osb]
username = "broker"
password = "{password}"
sync_timeout_ms = {sync}
retry_after_secs = 1
[jobs]
lease_ms = {lease}
poll_interval_ms = 100
max_attempts = {max_attempts}
provider_timeout_ms = {provider_timeout}
[marketplace]
request_timeout_ms = {partner_timeout}
callback_deadline_ms = {callback_deadline}
refresh_ms = 500
allow_loopback = true
[providers.postgresql]
url = "{pg_url}"
pool_size = 4
[providers.redis]
url = "{redis_url}"
[providers.kafka]
bootstrap_servers = "{kafka}"
[runtime]
backend = "{backend}"
cgroup_parent = "{cgroup}"
stop_grace_ms = {grace}
backoff_initial_ms = {backoff}
backoff_max_ms = {backoff_max}
restart_debounce_ms = {debounce}
boot_timeout_ms = 20000
"#,
            cgroup = TEST_CGROUP,
            max_attempts = options.max_attempts,
            partner_timeout = options.partner_timeout_ms,
            callback_deadline = options.callback_deadline_ms,
            backend = options.runtime_backend,
            grace = options.stop_grace_ms,
            backoff = options.backoff_initial_ms,
            backoff_max = options.backoff_max_ms,
            debounce = options.restart_debounce_ms,
            data = dir.path().display(),
            sync = options.sync_timeout_ms,
            lease = options.lease_ms,
            pg_url = options.postgres_url.clone().unwrap_or_else(|| pg.url("postgres")),
            redis_url = servers().redis.url(),
            jwt_secret = JWT_SECRET,
            create_wait = options.create_wait_ms,
            provider_timeout = options.provider_timeout_ms,
            kafka = servers().kafka.bootstrap(),
        );
        std::fs::write(dir.path().join("broker.toml"), config).unwrap();
        let mut app = TestApp {
            url: String::new(),
            user: "broker".into(),
            password,
            state_url,
            dir,
            child: None,
            reapers: Vec::new(),
        };
        app.start();
        app
    }

    /// The broker's temporary directory (state, key file, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the broker's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    /// (Re)starts the broker process on the same settings and state.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut child = Command::new(broker_bin())
            .arg("serve")
            .arg("--config")
            .arg(self.dir.path().join("broker.toml"))
            .env("RUST_LOG", "info,actix_server=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting the broker");
        // The broker under test dies with the test process even on SIGKILL; a broker that a
        // test kills itself leaves a reaper that only waits for the test process.
        let reaper = spawn_reaper(child.id(), "KILL", Path::new("")).unwrap();
        self.reapers.push(reaper);
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "broker did not start: {line:?}\n{}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                )
            })
            .to_string();
        self.url = url;
        self.child = Some(child);
    }

    /// Kills the broker with SIGKILL: no cleanup, no graceful anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Stops the broker with SIGTERM and returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("broker is running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        child.wait().unwrap()
    }

    /// An OSB client with valid credentials and API version 2.17.
    pub fn osb(&self) -> Osb {
        Osb {
            url: self.url.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            version: Some("2.17".into()),
            client: reqwest::Client::new(),
        }
    }

    /// A bearer token for `sub` with `scope`, signed with the broker's key.
    pub fn token(&self, sub: &str, scope: broker::auth::Scope) -> String {
        broker::auth::TokenKeys::from_secret(JWT_SECRET.as_bytes())
            .unwrap()
            .mint(sub, scope, 3600)
            .unwrap()
    }

    /// A platform API client for `sub` with `scope`.
    pub fn api(&self, sub: &str, scope: broker::auth::Scope) -> Api {
        Api {
            url: self.url.clone(),
            token: Some(self.token(sub, scope)),
            client: reqwest::Client::new(),
        }
    }

    /// A platform API client with a `platform` token for `alice`.
    pub fn platform(&self) -> Api {
        self.api("alice", broker::auth::Scope::Platform)
    }

    /// The broker's state store, opened directly.
    pub fn state_db(&self) -> broker::db::Db {
        broker::db::Db::connect(&self.state_url, 2).unwrap()
    }
}

impl TestApp {
    /// The dyno runtime over this broker's containers, opened directly (as a restarted broker
    /// would).
    pub fn runtime(&self) -> runtime::local::LocalRuntime {
        runtime::local::LocalRuntime::new(runtime::local::LocalConfig {
            root: self.dir.path().join("dynos"),
            bwrap: "bwrap".into(),
            cgroup_parent: TEST_CGROUP.into(),
            run_as: None,
        })
        .unwrap()
    }
}

impl TestApp {
    /// How many of this broker's containers run (as the runtime itself sees them).
    pub async fn runtime_running(&self) -> usize {
        use runtime::Runtime;
        // Stops happen in the background: allow them the grace period to finish.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let rt = self.runtime();
        let mut last = 0;
        while std::time::Instant::now() < deadline {
            let running = rt.list().await.unwrap().iter().filter(|c| c.running()).count();
            if running == last {
                return running;
            }
            last = running;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        last
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
        // Dynos outlive a killed broker by design; the test's are killed here.
        if self.dir.path().join("dynos").exists() {
            self.runtime().kill_everything();
        }
        for r in self.reapers.drain(..) {
            r.dismiss();
        }
    }
}

/// A response: status, headers, and the body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON.
    pub body: Value,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }

    /// The OSB `error` code.
    pub fn error_code(&self) -> Option<&str> {
        self.body.get("error").and_then(Value::as_str)
    }

    /// The OSB `description`.
    pub fn description(&self) -> &str {
        self.body.get("description").and_then(Value::as_str).unwrap_or_default()
    }

    /// The `operation` of a 202.
    pub fn operation(&self) -> String {
        self.body["operation"].as_str().expect("an operation").to_string()
    }
}

/// A typed OSB client.
#[derive(Clone)]
pub struct Osb {
    /// Base URL.
    pub url: String,
    /// Basic auth user.
    pub user: String,
    /// Basic auth password.
    pub password: String,
    /// `X-Broker-API-Version`, or none.
    pub version: Option<String>,
    /// HTTP client.
    pub client: reqwest::Client,
}

/// A catalog service and plan id pair.
#[derive(Debug, Clone)]
pub struct PlanRef {
    /// Service id.
    pub service_id: String,
    /// Plan id.
    pub plan_id: String,
}

impl Osb {
    /// A raw request with auth and version headers set.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .request(method, format!("{}{}", self.url, path))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(v) = &self.version {
            rb = rb.header("X-Broker-API-Version", v);
        }
        rb
    }

    /// Sends a request and collects the reply.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Reply {
        let res = rb.send().await.expect("request reached the broker");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    /// The catalog.
    pub async fn catalog(&self) -> Value {
        self.get("/v2/catalog").await.expect(200).body
    }

    /// Ids of `service:plan` from the catalog.
    pub async fn plan(&self, service: &str, plan: &str) -> PlanRef {
        let catalog = self.catalog().await;
        let s = catalog["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service)
            .unwrap_or_else(|| panic!("service {service} in catalog"));
        let p = s["plans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == plan)
            .unwrap();
        PlanRef {
            service_id: s["id"].as_str().unwrap().into(),
            plan_id: p["id"].as_str().unwrap().into(),
        }
    }

    fn incomplete(accepts_incomplete: bool) -> &'static str {
        if accepts_incomplete {
            "?accepts_incomplete=true"
        } else {
            ""
        }
    }

    /// `PUT /v2/service_instances/:id` with the usual fields and `parameters`.
    pub async fn provision(&self, id: &str, plan: &PlanRef, parameters: Value, accepts_incomplete: bool) -> Reply {
        let body = json!({
            "service_id": plan.service_id,
            "plan_id": plan.plan_id,
            "organization_guid": "org-1",
            "space_guid": "space-1",
            "context": { "platform": "test" },
            "parameters": parameters,
        });
        self.provision_raw(id, body, accepts_incomplete).await
    }

    /// `PUT /v2/service_instances/:id` with any body.
    pub async fn provision_raw(&self, id: &str, body: Value, accepts_incomplete: bool) -> Reply {
        let path = format!(
            "/v2/service_instances/{}{}",
            encode(id),
            Self::incomplete(accepts_incomplete)
        );
        self.send(self.request(Method::PUT, &path).json(&body)).await
    }

    /// `PATCH /v2/service_instances/:id`.
    pub async fn update(&self, id: &str, body: Value, accepts_incomplete: bool) -> Reply {
        let path = format!(
            "/v2/service_instances/{}{}",
            encode(id),
            Self::incomplete(accepts_incomplete)
        );
        self.send(self.request(Method::PATCH, &path).json(&body)).await
    }

    /// `DELETE /v2/service_instances/:id`.
    pub async fn deprovision(&self, id: &str, plan: &PlanRef, accepts_incomplete: bool) -> Reply {
        let path = format!(
            "/v2/service_instances/{}?service_id={}&plan_id={}{}",
            encode(id),
            plan.service_id,
            plan.plan_id,
            if accepts_incomplete {
                "&accepts_incomplete=true"
            } else {
                ""
            }
        );
        self.send(self.request(Method::DELETE, &path)).await
    }

    /// `GET …/last_operation`.
    pub async fn last_operation(&self, id: &str, operation: Option<&str>) -> Reply {
        let q = operation
            .map(|o| format!("?operation={}", encode(o)))
            .unwrap_or_default();
        self.get(&format!("/v2/service_instances/{}/last_operation{q}", encode(id)))
            .await
    }

    /// `PUT …/service_bindings/:bid`.
    pub async fn bind(
        &self,
        id: &str,
        bid: &str,
        plan: &PlanRef,
        parameters: Value,
        accepts_incomplete: bool,
    ) -> Reply {
        let body = json!({
            "service_id": plan.service_id,
            "plan_id": plan.plan_id,
            "bind_resource": { "app_guid": "app-1" },
            "parameters": parameters,
        });
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}{}",
            encode(id),
            encode(bid),
            Self::incomplete(accepts_incomplete)
        );
        self.send(self.request(Method::PUT, &path).json(&body)).await
    }

    /// `DELETE …/service_bindings/:bid`.
    pub async fn unbind(&self, id: &str, bid: &str, plan: &PlanRef, accepts_incomplete: bool) -> Reply {
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}?service_id={}&plan_id={}{}",
            encode(id),
            encode(bid),
            plan.service_id,
            plan.plan_id,
            if accepts_incomplete {
                "&accepts_incomplete=true"
            } else {
                ""
            }
        );
        self.send(self.request(Method::DELETE, &path)).await
    }

    /// Polls `last_operation` until it leaves `in progress` (at most `timeout`).
    pub async fn wait_instance(&self, id: &str, operation: &str, timeout: Duration) -> Reply {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.last_operation(id, Some(operation)).await.expect(200);
            if r.body["state"] != "in progress" || tokio::time::Instant::now() > deadline {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls a binding's `last_operation` until it leaves `in progress`.
    pub async fn wait_binding(&self, id: &str, bid: &str, operation: &str, timeout: Duration) -> Reply {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self
                .get(&format!(
                    "/v2/service_instances/{}/service_bindings/{}/last_operation?operation={}",
                    encode(id),
                    encode(bid),
                    operation
                ))
                .await
                .expect(200);
            if r.body["state"] != "in progress" || tokio::time::Instant::now() > deadline {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Percent-encodes a path segment (hostile ids must reach the broker intact).
pub fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Facts about the shared PostgreSQL server, read as superuser.
pub struct PgInspector {
    client: tokio_postgres::Client,
}

impl PgInspector {
    /// Connects to the shared cluster.
    pub async fn connect() -> PgInspector {
        PgInspector {
            client: pg_connect("postgres").await,
        }
    }

    /// Whether a database exists.
    pub async fn database_exists(&self, name: &str) -> bool {
        self.client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }

    /// Whether a role exists.
    pub async fn role_exists(&self, name: &str) -> bool {
        self.client
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }

    /// The connection limit of a database.
    pub async fn connection_limit(&self, name: &str) -> i32 {
        self.client
            .query_one("SELECT datconnlimit FROM pg_database WHERE datname = $1", &[&name])
            .await
            .unwrap()
            .get(0)
    }

    /// Holds the adapter's advisory lock for an instance until the returned client is dropped,
    /// which pauses every provider call on that instance: a slow backend on demand.
    pub async fn hold_instance_lock(instance_id: &str) -> tokio_postgres::Client {
        let client = pg_connect("postgres").await;
        let (class, key) = providers::postgres::advisory_lock_key(instance_id);
        client
            .execute("SELECT pg_advisory_lock($1, $2)", &[&class, &key])
            .await
            .unwrap();
        client
    }

    /// The raw client.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

/// Connects with credentials handed out by the broker and runs a statement; `Err` when the
/// server refuses (revoked credentials).
pub async fn connect_with_uri(uri: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(uri, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A Kafka client for tests: produces a record and reads it back through the bootstrap servers
/// of a binding's credentials.
pub mod kafka {
    use std::time::Duration;

    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::{Message, Offset, TopicPartitionList};

    /// Produces `payload` to partition 0 of `topic`.
    pub async fn produce(bootstrap: &str, topic: &str, payload: &str) -> Result<(), String> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("message.timeout.ms", "10000")
            .create()
            .map_err(|e| e.to_string())?;
        producer
            .send(
                FutureRecord::to(topic).partition(0).key("k").payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    }

    /// Reads partition 0 of `topic` from the start until `payload` shows up (or 10 s pass).
    pub async fn consume_until(bootstrap: &str, topic: &str, payload: &str) -> Result<String, String> {
        let (bootstrap, topic, payload) = (bootstrap.to_string(), topic.to_string(), payload.to_string());
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", format!("test-{}", uuid::Uuid::new_v4()))
                .set("enable.auto.commit", "false")
                .create()
                .map_err(|e| e.to_string())?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, 0, Offset::Beginning)
                .map_err(|e| e.to_string())?;
            consumer.assign(&tpl).map_err(|e| e.to_string())?;
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                    let message = message.map_err(|e| e.to_string())?;
                    let body = message.payload_view::<str>().and_then(|r| r.ok()).unwrap_or_default();
                    if body == payload {
                        return Ok(body.to_string());
                    }
                }
            }
            Err(format!("{payload} not read back from {topic}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Topic names on the cluster.
    pub async fn topic_names(bootstrap: &str) -> Vec<String> {
        let bootstrap = bootstrap.to_string();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .unwrap();
            let metadata = consumer.fetch_metadata(None, Duration::from_secs(10)).unwrap();
            metadata.topics().iter().map(|t| t.name().to_string()).collect()
        })
        .await
        .unwrap()
    }
}

/// A platform API client (bearer token).
#[derive(Clone)]
pub struct Api {
    /// Base URL.
    pub url: String,
    /// Bearer token, or none.
    pub token: Option<String>,
    /// HTTP client.
    pub client: reqwest::Client,
}

impl Api {
    /// A request with the bearer token set.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, format!("{}{}", self.url, path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and collects the reply.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Reply {
        let res = rb.send().await.expect("request reached the broker");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::POST, path).json(&body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::PATCH, path).json(&body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Creates an app with a unique name; returns its name.
    pub async fn create_app(&self) -> String {
        let name = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.post("/apps", json!({ "name": name })).await.expect(201);
        name
    }

    /// The app's current config vars.
    pub async fn config(&self, app: &str) -> serde_json::Map<String, Value> {
        self.get(&format!("/apps/{app}/config-vars"))
            .await
            .expect(200)
            .body
            .as_object()
            .unwrap()
            .clone()
    }

    /// The app's releases, oldest first.
    pub async fn releases(&self, app: &str) -> Vec<Value> {
        self.get(&format!("/apps/{app}/releases"))
            .await
            .expect(200)
            .body
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Reply {
    /// The platform API error `id`.
    pub fn error_id(&self) -> &str {
        self.body.get("id").and_then(Value::as_str).unwrap_or_default()
    }

    /// The platform API error `message`.
    pub fn message(&self) -> &str {
        self.body.get("message").and_then(Value::as_str).unwrap_or_default()
    }
}

/// Helpers of the dyno runtime tests: build archives, wait for dynos, talk to them.
pub mod dynos {
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use super::Api;

    /// The sample app binary (`sample-dyno`), built by cargo beside the broker under test.
    pub fn sample_binary() -> std::path::PathBuf {
        let bin = super::broker_bin();
        bin.with_file_name("sample-dyno")
    }

    /// A `.tar.gz` holding `files` (path, contents, mode) exactly as given, unsafe paths included.
    pub fn archive(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, data, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_entry_type(tar::EntryType::Regular);
            // Written by hand so that hostile names ("../x", "/etc/x") reach the broker as is.
            let name = header.as_old_mut();
            name.name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            tar.append(&header, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    /// A `.tar.gz` with a symlink `name` → `target` (and a Procfile).
    pub fn archive_with_symlink(name: &str, target: &str) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let procfile = b"web: true\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(procfile.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, "Procfile", &procfile[..]).unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        link.set_mode(0o777);
        tar.append_link(&mut link, name, target).unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    }

    /// An archive entry for [`archive_of`].
    pub enum Entry<'a> {
        /// A regular file: path, contents, mode.
        File(&'a str, &'a [u8], u32),
        /// A symlink: path, target.
        Link(&'a str, &'a str),
    }

    /// A `.tar.gz` of these entries, in this order.
    pub fn archive_of(entries: &[Entry]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for e in entries {
            let mut header = tar::Header::new_gnu();
            match e {
                Entry::File(path, data, mode) => {
                    header.set_size(data.len() as u64);
                    header.set_mode(*mode);
                    tar.append_data(&mut header, path, *data).unwrap();
                }
                Entry::Link(path, target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    header.set_mode(0o777);
                    tar.append_link(&mut header, path, target).unwrap();
                }
            }
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    /// The sample app with this Procfile.
    pub fn sample_app(procfile: &str) -> Vec<u8> {
        let binary = std::fs::read(sample_binary()).expect("sample-dyno is built with the tests");
        archive(&[
            ("Procfile", procfile.as_bytes(), 0o644),
            ("sample-dyno", &binary, 0o755),
        ])
    }

    /// The Procfile of most tests.
    pub const PROCFILE: &str = "web: ./sample-dyno web\nworker: ./sample-dyno worker\n";

    /// `POST /apps/{app}/builds` with `archive` as the body.
    pub async fn post_build(api: &Api, app: &str, archive: Vec<u8>) -> super::Reply {
        api.send(
            api.request(reqwest::Method::POST, &format!("/apps/{app}/builds"))
                .header("content-type", "application/gzip")
                .body(archive),
        )
        .await
    }

    /// Pushes a build; returns the answer's body (status must be 201).
    pub async fn push(api: &Api, app: &str, archive: Vec<u8>) -> Value {
        let r = post_build(api, app, archive).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body
    }

    /// `PATCH /apps/{app}/formation` with these `updates` (status must be 200).
    pub async fn scale(api: &Api, app: &str, updates: Value) {
        let r = api
            .patch(
                &format!("/apps/{app}/formation"),
                serde_json::json!({ "updates": updates }),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    /// Polls the app's dynos until `done` holds for them (30 s at most).
    pub async fn wait_dynos(api: &Api, app: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = api.get(&format!("/apps/{app}/dynos")).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            let list = r.body.as_array().cloned().unwrap_or_default();
            if done(&list) {
                return list;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; dynos: {list:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The formation dynos of `kind` (e.g. `web`) that are `up`.
    pub fn up<'a>(list: &'a [Value], kind: &str) -> Vec<&'a Value> {
        list.iter()
            .filter(|d| d["type"] == kind && d["state"] == "up")
            .collect()
    }

    /// GETs `path` from a web dyno on its port; `None` when it does not answer.
    pub async fn ask(port: u64, path: &str) -> Option<Value> {
        let r = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}{path}"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// The broker's log lines of the app (`GET /apps/{app}/logs`).
    pub async fn logs(api: &Api, app: &str, query: &str) -> String {
        let r = api
            .request(reqwest::Method::GET, &format!("/apps/{app}/logs?lines=1500&{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }
}
