//! The broker under test: [`TestApp`] writes a `broker.toml` from [`Options`] into a temporary
//! directory, runs the real `broker serve` binary on port 0 against a fresh state store (SQLite
//! by default, PostgreSQL when `BROKER_TEST_STATE=postgres`), and hands out clients for it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use broker::devservers::spawn_reaper;

use crate::api::Api;
use crate::osb::Osb;
use crate::pg::pg_connect;
use crate::servers::servers;

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
    /// Admin URL of another Redis server for the `redis` service (default: the shared one).
    pub redis_url: Option<String>,
    /// `runtime.stop_grace_ms`.
    pub stop_grace_ms: u64,
    /// `runtime.max_archive_bytes`.
    pub max_archive_bytes: u64,
    /// `runtime.lease_ms`.
    pub runtime_lease_ms: u64,
    /// A directory for `runtime.root` and `runtime.slugs_dir` that replicas share (default:
    /// each broker's own data directory).
    pub shared_runtime: Option<PathBuf>,
    /// `runtime.upload_idle_timeout_ms`.
    pub upload_idle_timeout_ms: u64,
    /// `runtime.upload_timeout_ms`.
    pub upload_timeout_ms: u64,
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
    /// `builds.pip_index_url` (e.g. the loopback index of `packages::py_index`).
    pub pip_index_url: Option<String>,
    /// `builds.npm_registry`.
    pub npm_registry: Option<String>,
    /// `builds.buildpack_paths`.
    pub buildpack_paths: Vec<String>,
    /// `builds.timeout_ms`.
    pub build_timeout_ms: u64,
    /// `router.timeout_ms`.
    pub router_timeout_ms: u64,
    /// `router.boot_wait_ms`.
    pub router_boot_wait_ms: u64,
    /// `runtime.enter_namespaces`.
    pub enter_namespaces: bool,
    /// HTTPS on the router (a listener on a free port) with these certificates.
    pub router_tls: Option<RouterTls>,
    /// The broker's `RUST_LOG`.
    pub log_filter: &'static str,
    /// A state store of the test's own (e.g. a PostgreSQL server it stops and restarts)
    /// instead of a fresh one of `state`.
    pub state_url: Option<String>,
}

/// The router's HTTPS settings of a broker under test.
#[derive(Debug, Clone)]
pub struct RouterTls {
    /// The default certificate and key (PEM files).
    pub default: (PathBuf, PathBuf),
    /// Certificates for particular names: the names, the certificate, the key.
    pub certificates: Vec<(Vec<String>, PathBuf, PathBuf)>,
}

impl RouterTls {
    /// The `[router.tls]` section.
    fn toml(&self) -> String {
        let mut out = format!(
            "[router.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            self.default.0.display(),
            self.default.1.display()
        );
        for (names, cert, key) in &self.certificates {
            out.push_str(&format!(
                "[[router.tls.certificates]]\ndomains = {names:?}\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                cert.display(),
                key.display()
            ));
        }
        out
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state: StateBackend::from_env(),
            log_filter: "info,actix_server=warn",
            state_url: None,
            sync_timeout_ms: 30_000,
            lease_ms: 30_000,
            create_wait_ms: 10_000,
            provider_timeout_ms: 60_000,
            postgres_url: None,
            redis_url: None,
            stop_grace_ms: 2_000,
            max_archive_bytes: 100 << 20,
            runtime_lease_ms: 10_000,
            shared_runtime: None,
            upload_idle_timeout_ms: 30_000,
            upload_timeout_ms: 600_000,
            backoff_initial_ms: 300,
            backoff_max_ms: 600_000,
            restart_debounce_ms: 150,
            runtime_backend: "local",
            max_attempts: 5,
            partner_timeout_ms: 10_000,
            callback_deadline_ms: 60_000,
            pip_index_url: None,
            npm_registry: None,
            buildpack_paths: Vec::new(),
            build_timeout_ms: 900_000,
            router_timeout_ms: 30_000,
            router_boot_wait_ms: 10_000,
            enter_namespaces: true,
            router_tls: None,
        }
    }
}

impl Options {
    /// The `broker.toml` of a broker under test with these options.
    fn config_toml(&self, data_dir: &Path, state_url: &str, password: &str) -> String {
        format!(
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
max_archive_bytes = {max_archive}
lease_ms = {runtime_lease}
root = "{runtime_root}"
slugs_dir = "{slugs_dir}"
upload_idle_timeout_ms = {upload_idle}
upload_timeout_ms = {upload_total}
backoff_initial_ms = {backoff}
backoff_max_ms = {backoff_max}
restart_debounce_ms = {debounce}
boot_timeout_ms = 20000
enter_namespaces = {enter_namespaces}
[builds]
pip_index_url = "{pip}"
npm_registry = "{npm}"
buildpack_paths = {paths:?}
timeout_ms = {build_timeout}
allow_loopback_buildpacks = true
[router]
listen = "127.0.0.1:0"
domain = "localhost"
timeout_ms = {router_timeout}
boot_wait_ms = {router_boot_wait}
drain_timeout_ms = 30000
host_cache_ms = 200
{router_tls}"#,
            router_timeout = self.router_timeout_ms,
            router_boot_wait = self.router_boot_wait_ms,
            enter_namespaces = self.enter_namespaces,
            router_tls = self.router_tls.as_ref().map(RouterTls::toml).unwrap_or_default(),
            pip = self.pip_index_url.clone().unwrap_or_default(),
            npm = self.npm_registry.clone().unwrap_or_default(),
            paths = self.buildpack_paths,
            build_timeout = self.build_timeout_ms,
            cgroup = TEST_CGROUP,
            max_attempts = self.max_attempts,
            partner_timeout = self.partner_timeout_ms,
            callback_deadline = self.callback_deadline_ms,
            backend = self.runtime_backend,
            grace = self.stop_grace_ms,
            max_archive = self.max_archive_bytes,
            runtime_lease = self.runtime_lease_ms,
            runtime_root = self
                .shared_runtime
                .as_ref()
                .map(|d| d.join("dynos").display().to_string())
                .unwrap_or_default(),
            slugs_dir = self
                .shared_runtime
                .as_ref()
                .map(|d| d.join("slugs").display().to_string())
                .unwrap_or_default(),
            upload_idle = self.upload_idle_timeout_ms,
            upload_total = self.upload_timeout_ms,
            backoff = self.backoff_initial_ms,
            backoff_max = self.backoff_max_ms,
            debounce = self.restart_debounce_ms,
            data = data_dir.display(),
            sync = self.sync_timeout_ms,
            lease = self.lease_ms,
            pg_url = self
                .postgres_url
                .clone()
                .unwrap_or_else(|| servers().postgres.url("postgres")),
            redis_url = self.redis_url.clone().unwrap_or_else(|| servers().redis.url()),
            jwt_secret = JWT_SECRET,
            create_wait = self.create_wait_ms,
            provider_timeout = self.provider_timeout_ms,
            kafka = servers().kafka.bootstrap(),
        )
    }
}

/// A fresh, empty state store of this backend for a broker whose directory is `dir`: a SQLite
/// file in it, or a new database on the shared PostgreSQL cluster.
async fn fresh_state_store(state: StateBackend, dir: &Path) -> String {
    match state {
        StateBackend::Sqlite => format!("sqlite://{}", dir.join("broker.sqlite").display()),
        StateBackend::Postgres => {
            let name = format!("state_{}", uuid::Uuid::new_v4().simple());
            pg_connect("postgres")
                .await
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            servers().postgres.url(&name)
        }
    }
}

/// The file in a broker's directory that holds its `RUST_LOG` (kept for restarts and replicas).
const LOG_FILTER_FILE: &str = "rust-log";

/// cgroup under which the brokers under test put their dynos.
pub const TEST_CGROUP: &str = "addon-broker-tests";

/// The token key of every broker under test.
pub const JWT_SECRET: &str = "test-secret-for-the-platform-api-0123456789";

/// A running broker subprocess and what is needed to talk to it.
pub struct TestApp {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The router's plain HTTP listener (`http://127.0.0.1:PORT`).
    pub router_url: String,
    /// The router's HTTPS listener (`https://127.0.0.1:PORT`), when it has one.
    pub router_tls_url: Option<String>,
    /// OSB basic auth user.
    pub user: String,
    /// OSB basic auth password.
    pub password: String,
    /// The state store URL.
    pub state_url: String,
    pub(crate) dir: tempfile::TempDir,
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
impl TestApp {
    /// Starts a broker with default options.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Options::default()).await
    }

    /// Starts a broker with these options.
    pub async fn spawn_with(options: Options) -> TestApp {
        let dir = tempfile::Builder::new().prefix("addon-broker-test-").tempdir().unwrap();
        // Dynos run as an unprivileged user that must reach their directories in here.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
        let state_url = match &options.state_url {
            Some(url) => url.clone(),
            None => fresh_state_store(options.state, dir.path()).await,
        };
        let password = providers::names::random_password(24);
        let config = options.config_toml(dir.path(), &state_url, &password);
        std::fs::write(dir.path().join("broker.toml"), config).unwrap();
        std::fs::write(dir.path().join(LOG_FILTER_FILE), options.log_filter).unwrap();
        let mut app = TestApp {
            url: String::new(),
            router_url: String::new(),
            router_tls_url: None,
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

    /// A second broker process on the same state store and keys, in a directory of its own
    /// (so that its log and slugs are its own): a replica behind the same load balancer.
    pub fn replica(&self) -> TestApp {
        let dir = tempfile::Builder::new()
            .prefix("addon-broker-replica-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
        let config = std::fs::read_to_string(self.dir.path().join("broker.toml")).unwrap();
        let config = config.replace(
            &format!("data_dir = \"{}\"", self.dir.path().display()),
            &format!("data_dir = \"{}\"", dir.path().display()),
        );
        std::fs::write(dir.path().join("broker.toml"), config).unwrap();
        // The key that seals secrets at rest must be the same on every replica.
        std::fs::copy(self.dir.path().join("secret.key"), dir.path().join("secret.key")).unwrap();
        std::fs::copy(self.dir.path().join(LOG_FILTER_FILE), dir.path().join(LOG_FILTER_FILE)).unwrap();
        let mut app = TestApp {
            url: String::new(),
            router_url: String::new(),
            router_tls_url: None,
            user: self.user.clone(),
            password: self.password.clone(),
            state_url: self.state_url.clone(),
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
            .env(
                "RUST_LOG",
                std::fs::read_to_string(self.dir.path().join(LOG_FILTER_FILE)).unwrap(),
            )
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
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
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
        // The router's listeners follow, one line each (plain HTTP, then HTTPS when set).
        let tls = std::fs::read_to_string(self.dir.path().join("broker.toml"))
            .unwrap()
            .contains("[router.tls]");
        for _ in 0..(1 + usize::from(tls)) {
            let mut router = String::new();
            stdout.read_line(&mut router).unwrap();
            match router.trim().strip_prefix("router listening on ") {
                Some(u) if u.starts_with("https://") => self.router_tls_url = Some(u.to_string()),
                Some(u) => self.router_url = u.to_string(),
                None => panic!("no router line: {router:?}"),
            }
        }
        self.url = url;
        self.child = Some(child);
    }

    /// The broker process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
            client: crate::api::http_client(),
        }
    }

    /// A new bearer token for `sub` with `scope`, made as an operator makes one: by
    /// `broker token` on the broker's settings, which records it in the state store.
    pub fn token(&self, sub: &str, scope: broker::auth::Scope) -> String {
        let out = Command::new(broker_bin())
            .arg("token")
            .arg("--config")
            .arg(self.dir.path().join("broker.toml"))
            .args(["--scope", scope.as_str(), "--sub", sub, "--ttl", "2h"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("running broker token");
        assert!(
            out.status.success(),
            "broker token failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A platform API client for `sub` with `scope`.
    pub fn api(&self, sub: &str, scope: broker::auth::Scope) -> Api {
        Api {
            url: self.url.clone(),
            token: Some(self.token(sub, scope)),
            client: crate::api::http_client(),
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
