//! Settings: one struct, loaded from an optional TOML file and then `BROKER__SECTION__KEY`
//! environment variables (the `config` crate). With nothing set, the broker runs on the embedded
//! default: SQLite state in `./broker-data`, listening on 127.0.0.1:8080.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::config_builds::BuildSettings;
pub use crate::config_router::{DomainCertificate, RouterSettings, TlsSettings, WebAddress};
use crate::error::{Error, Result};

/// All broker settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory for the embedded state, the generated key and generated credentials.
    pub data_dir: PathBuf,
    /// HTTP server.
    pub server: ServerSettings,
    /// State store.
    pub database: DatabaseSettings,
    /// OSB API.
    pub osb: OsbSettings,
    /// Encryption at rest.
    pub crypto: CryptoSettings,
    /// Bearer tokens of the platform and admin APIs.
    pub auth: AuthSettings,
    /// The platform API.
    pub platform: PlatformSettings,
    /// Operation workers.
    pub jobs: JobSettings,
    /// Logging.
    pub log: LogSettings,
    /// Built-in providers; a service is in the catalog only when its provider is configured.
    pub providers: ProviderSettings,
    /// The dyno runtime.
    pub runtime: RuntimeSettings,
    /// Builds (buildpacks in a sandbox).
    pub builds: BuildSettings,
    /// Third-party providers.
    pub marketplace: MarketplaceSettings,
    /// The router: app URLs, balancing over web dynos.
    pub router: RouterSettings,
}

/// Third-party provider settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketplaceSettings {
    /// The broker's URL as providers reach it (their `callback_url`s start with it); empty:
    /// `http://<server.listen>` with the bound port.
    pub public_url: String,
    /// The region sent to partners with every provision.
    pub region: String,
    /// Timeout of one HTTP call to a provider (ms); a timeout is retried like any transient
    /// failure, up to `jobs.max_attempts`.
    pub request_timeout_ms: u64,
    /// How long an asynchronous provision (202) may wait for the provider's callback before it
    /// fails and a deprovision is sent (ms). Heroku allows 12 hours.
    pub callback_deadline_ms: u64,
    /// How often a broker checks the store for providers changed by another broker (ms).
    pub refresh_ms: u64,
    /// Whether provider URLs may point at this host (127.0.0.1, localhost, ::1): for development
    /// and tests only, since such a URL makes the broker call its own host's services.
    pub allow_loopback: bool,
}

impl Default for MarketplaceSettings {
    fn default() -> Self {
        MarketplaceSettings {
            public_url: String::new(),
            region: "us".into(),
            request_timeout_ms: 10_000,
            callback_deadline_ms: 12 * 3_600_000,
            refresh_ms: 5_000,
            allow_loopback: false,
        }
    }
}

/// Dyno runtime settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// `local` (bubblewrap + cgroups on this machine; the broker refuses to start without
    /// them), `auto` (local when this host can run it, else none, with a warning) or `none` (no
    /// dynos: formation, dyno and release-phase requests answer 422).
    pub backend: String,
    /// Containers' directory; empty means `<data_dir>/dynos`.
    pub root: String,
    /// The bubblewrap binary.
    pub bwrap: String,
    /// `isolated` (each dyno in a network namespace of its own, by pasta: it reaches only its
    /// app's add-ons, and the router reaches its `$PORT`) or `host` (the host's network, no
    /// wall: for hosts without pasta).
    pub network: String,
    /// The pasta binary (Debian's `passt` package).
    pub pasta: String,
    /// Whether dynos may open connections beyond this host (the internet); never to the host.
    pub egress: bool,
    /// With `isolated`: the router connects to a web dyno inside its network namespace when
    /// the broker may enter it (root), bypassing pasta's forward; `false` always uses the
    /// forward at the host's `127.0.0.1:$PORT`.
    pub enter_namespaces: bool,
    /// Name of the cgroup (under the broker's own) holding the dynos' cgroups.
    pub cgroup_parent: String,
    /// Grace between SIGTERM and SIGKILL when a dyno stops (ms).
    pub stop_grace_ms: u64,
    /// First restart delay of a crashed dyno (ms); it doubles per crash up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    /// Longest restart delay (ms).
    pub backoff_max_ms: u64,
    /// How long a web dyno may take to accept connections on `$PORT` before it is crashed (ms).
    pub boot_timeout_ms: u64,
    /// A new release restarts dynos only once it is this old (ms), so that releases arriving
    /// together (several add-ons attached at once) cause one restart.
    pub restart_debounce_ms: u64,
    /// How often the dyno manager compares what runs with the formation (ms).
    pub tick_ms: u64,
    /// The runtime's name among the replicas: brokers with the same name share its dynos,
    /// and one of them at a time (the holder of its lease in the state store) supervises them.
    pub name: String,
    /// How long the supervisor's lease lasts unless renewed (ms): the time a replica waits
    /// before it takes over from one that died.
    pub lease_ms: u64,
    /// Slugs' directory; empty means `<data_dir>/slugs`. Replicas that take over each other's
    /// dynos need one directory they all reach (and a shared `root`).
    pub slugs_dir: String,
    /// Largest build archive accepted (bytes).
    pub max_archive_bytes: usize,
    /// Longest pause in a build archive's upload before it is cut off (ms).
    pub upload_idle_timeout_ms: u64,
    /// Longest whole upload of a build archive (ms).
    pub upload_timeout_ms: u64,
    /// Largest unpacked slug (bytes).
    pub max_slug_bytes: u64,
    /// Longest release phase (ms); longer fails the build.
    pub release_phase_timeout_ms: u64,
    /// How long the output of a finished one-off dyno is kept (ms).
    pub one_off_retention_ms: u64,
    /// Most dynos of one process type.
    pub max_quantity: i32,
    /// How long an interactive one-off dyno waits for its client to attach before it is
    /// stopped (ms).
    pub attach_timeout_ms: u64,
    /// Stop every dyno when the broker shuts down (`broker dev` does); otherwise dynos keep
    /// running and the next broker adopts them.
    pub stop_on_shutdown: bool,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            backend: "auto".into(),
            root: String::new(),
            bwrap: "bwrap".into(),
            network: "isolated".into(),
            pasta: "pasta".into(),
            egress: true,
            enter_namespaces: true,
            cgroup_parent: "addon-broker".into(),
            stop_grace_ms: 30_000,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 600_000,
            boot_timeout_ms: 60_000,
            restart_debounce_ms: 150,
            tick_ms: 50,
            name: "local".into(),
            lease_ms: 10_000,
            slugs_dir: String::new(),
            max_archive_bytes: 100 << 20,
            upload_idle_timeout_ms: 30_000,
            upload_timeout_ms: 600_000,
            max_slug_bytes: 500 << 20,
            release_phase_timeout_ms: 600_000,
            one_off_retention_ms: 3_600_000,
            max_quantity: 20,
            attach_timeout_ms: 60_000,
            stop_on_shutdown: false,
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    pub listen: String,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
}

/// State store settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path` or `postgres://…`; empty means `sqlite://<data_dir>/broker.sqlite`.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: u32,
    /// Apply migrations when `serve` starts.
    pub migrate_on_start: bool,
}

/// OSB API settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OsbSettings {
    /// Basic auth user.
    pub username: String,
    /// Basic auth password; empty means generate one and keep it in `<data_dir>/osb-password`.
    pub password: String,
    /// How long a request without `accepts_incomplete=true` waits for its operation (ms)
    /// before answering 422 `AsyncRequired`.
    pub sync_timeout_ms: u64,
    /// `Retry-After` seconds suggested while an operation is in progress.
    pub retry_after_secs: u64,
}

/// Encryption settings.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CryptoSettings {
    /// Base64 32-byte key; empty means use (and create) `key_file`.
    pub key: String,
    /// Key file; empty means `<data_dir>/secret.key`.
    pub key_file: String,
}

/// Token settings.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key (any text, at least 32 bytes) that signs tokens; empty means use (and create)
    /// `<data_dir>/jwt-secret`.
    pub jwt_secret: String,
}

/// Platform API settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformSettings {
    /// How long `addons:create` waits for the provision before answering 202 (ms).
    pub create_wait_ms: u64,
    /// How often unfinished add-on work is picked up (ms).
    pub reconcile_interval_ms: u64,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        PlatformSettings {
            create_wait_ms: 10_000,
            reconcile_interval_ms: 500,
        }
    }
}

/// Operation worker settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// How long a worker's claim on an operation lasts without renewal (ms).
    pub lease_ms: u64,
    /// How often workers look for due operations (ms).
    pub poll_interval_ms: u64,
    /// Attempts before a transiently failing operation is failed for good.
    pub max_attempts: i32,
    /// Operations run at once by this broker.
    pub concurrency: usize,
    /// Longest a single provider call may take before it counts as a transient failure and is
    /// retried (ms).
    pub provider_timeout_ms: u64,
}

/// Log settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: String,
}

/// Settings of the built-in providers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    /// The `postgresql` service's shared server.
    pub postgresql: Option<PostgresProviderSettings>,
    /// The `redis` service's shared server.
    pub redis: Option<RedisProviderSettings>,
    /// The `kafka` service's cluster.
    pub kafka: Option<KafkaProviderSettings>,
}

/// The `kafka` provider's cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaProviderSettings {
    /// Bootstrap servers (`host:port`, comma-separated).
    pub bootstrap_servers: String,
    /// Bootstrap servers handed out in credentials, when they differ.
    #[serde(default)]
    pub public_bootstrap_servers: Option<String>,
    /// Replication factor of created topics.
    #[serde(default = "default_replication")]
    pub replication_factor: i32,
}

fn default_replication() -> i32 {
    1
}

/// The `redis` provider's server.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisProviderSettings {
    /// Admin URL (`redis://admin:password@host:port`).
    pub url: String,
    /// Host handed out in credentials, when it differs from the admin URL's.
    #[serde(default)]
    pub public_host: Option<String>,
    /// Port handed out in credentials, when it differs from the admin URL's.
    #[serde(default)]
    pub public_port: Option<u16>,
}

/// The `postgresql` provider's server.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresProviderSettings {
    /// Admin URL of the shared server.
    pub url: String,
    /// Host handed out in credentials, when it differs from the admin URL's.
    #[serde(default)]
    pub public_host: Option<String>,
    /// Port handed out in credentials, when it differs from the admin URL's.
    #[serde(default)]
    pub public_port: Option<u16>,
    /// Admin connection pool size.
    #[serde(default = "default_provider_pool")]
    pub pool_size: usize,
}

fn default_provider_pool() -> usize {
    8
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("broker-data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            osb: OsbSettings::default(),
            crypto: CryptoSettings::default(),
            auth: AuthSettings::default(),
            platform: PlatformSettings::default(),
            jobs: JobSettings::default(),
            log: LogSettings::default(),
            providers: ProviderSettings::default(),
            runtime: RuntimeSettings::default(),
            builds: BuildSettings::default(),
            marketplace: MarketplaceSettings::default(),
            router: RouterSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            workers: 0,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: String::new(),
            pool_size: 8,
            migrate_on_start: true,
        }
    }
}

impl Default for OsbSettings {
    fn default() -> Self {
        OsbSettings {
            username: "broker".into(),
            password: String::new(),
            sync_timeout_ms: 60_000,
            retry_after_secs: 2,
        }
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            lease_ms: 30_000,
            poll_interval_ms: 500,
            max_attempts: 10,
            concurrency: 64,
            provider_timeout_ms: 300_000,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { format: "text".into() }
    }
}

impl Settings {
    /// Loads settings from an optional TOML file, then `BROKER__…` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings> {
        Settings::layered(config::Config::builder(), file)
    }

    /// Like [`Settings::load`], over `base` instead of the built-in defaults: the file's values
    /// replace `base`'s, and the environment's the file's (`broker dev` puts its defaults
    /// under both).
    pub fn load_over(base: &Settings, file: Option<&Path>) -> Result<Settings> {
        let base = config::Config::try_from(base).map_err(|e| Error::internal("settings", e))?;
        Settings::layered(config::Config::builder().add_source(base), file)
    }

    /// `builder`'s sources, then the optional file, then `BROKER__…` variables, validated.
    fn layered(
        mut builder: config::ConfigBuilder<config::builder::DefaultState>,
        file: Option<&Path>,
    ) -> Result<Settings> {
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("BROKER")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| Error::internal("settings", e))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Rejects settings that cannot work, with a message that names the setting.
    pub fn validate(&self) -> Result<()> {
        if self.osb.username.is_empty() || self.osb.username.contains(':') {
            return Err(Error::Internal(
                "osb.username must be non-empty and contain no ':'".into(),
            ));
        }
        if !["isolated", "host"].contains(&self.runtime.network.as_str()) {
            return Err(Error::Internal(
                "runtime.network must be \"isolated\" or \"host\"".into(),
            ));
        }
        if !["local", "auto", "none"].contains(&self.runtime.backend.as_str()) {
            return Err(Error::Internal(
                "runtime.backend must be \"local\", \"auto\" or \"none\"".into(),
            ));
        }
        if self.runtime.lease_ms < 300 {
            return Err(Error::Internal("runtime.lease_ms must be at least 300".into()));
        }
        if self.jobs.lease_ms < 300 {
            return Err(Error::Internal("jobs.lease_ms must be at least 300".into()));
        }
        Ok(())
    }

    /// The state store URL, with the embedded default filled in.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("broker.sqlite").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The dyno runtime's directory, with the default filled in.
    pub fn runtime_root(&self) -> PathBuf {
        if self.runtime.root.is_empty() {
            self.data_dir.join("dynos")
        } else {
            PathBuf::from(&self.runtime.root)
        }
    }

    /// The key file path, with the default filled in.
    pub fn key_file(&self) -> PathBuf {
        if self.crypto.key_file.is_empty() {
            self.data_dir.join("secret.key")
        } else {
            PathBuf::from(&self.crypto.key_file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_settings_never_shows_a_secret() {
        let mut s = Settings::default();
        s.osb.password = "osb-secret-value".into();
        s.crypto.key = "crypto-secret-value".into();
        s.auth.jwt_secret = "jwt-secret-value".into();
        s.database.url = "postgres://state:db-secret-value@127.0.0.1:5432/broker".into();
        let shown = format!("{s:?}");
        for secret in [
            "osb-secret-value",
            "crypto-secret-value",
            "jwt-secret-value",
            "db-secret-value",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(
            shown.contains("postgres://state:<redacted>@127.0.0.1:5432/broker"),
            "{shown}"
        );
    }

    #[test]
    fn a_file_loaded_over_a_base_replaces_only_what_it_names() {
        let mut base = Settings::default();
        base.osb.password = "from-base".into();
        base.marketplace.allow_loopback = true;
        base.providers.redis = Some(RedisProviderSettings {
            url: "redis://admin:pw@127.0.0.1:6390".into(),
            public_host: None,
            public_port: None,
        });
        let kept = Settings::load_over(&base, None).unwrap();
        assert!(kept.osb.password == "from-base" && kept.marketplace.allow_loopback);
        assert_eq!(
            kept.providers.redis.map(|r| r.url),
            base.providers.redis.clone().map(|r| r.url)
        );
        assert!(kept.providers.postgresql.is_none());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dev.toml");
        std::fs::write(
            &file,
            "[osb]\nusername = \"from-file\"\n[marketplace]\nallow_loopback = false\n",
        )
        .unwrap();
        let layered = Settings::load_over(&base, Some(&file)).unwrap();
        assert_eq!(layered.osb.username, "from-file");
        assert_eq!(layered.osb.password, "from-base");
        assert!(!layered.marketplace.allow_loopback, "the file says otherwise");
        std::fs::write(&file, "[osb]\nnot_a_setting = 1\n").unwrap();
        assert!(
            Settings::load_over(&base, Some(&file)).is_err(),
            "unknown keys are refused"
        );
    }
}
