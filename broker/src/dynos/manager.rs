//! The [`Dynos`] handle and what all its parts share: the store, the runtime, the settings, the
//! supervisor's memory and the log buffers. Its methods live with their resource (`builds.rs`,
//! `formation.rs`, `dynos.rs`, `logs.rs`, `supervisor.rs`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runtime::Runtime;
use tokio::sync::{broadcast, Mutex};

use crate::access::{load_app, Role};
use crate::config::{BuildSettings, RuntimeSettings};
use crate::crypto::Sealer;
use crate::db::models::App;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::platform::Actor;
use crate::router::pool::Pool;
use crate::slugs::ProcessTypes;

use super::plan::Supervision;
use super::views::LogLine;

pub(super) struct Inner {
    pub(super) db: Db,
    pub(super) sealer: Sealer,
    pub(super) runtime: Option<Arc<dyn Runtime>>,
    pub(super) settings: RuntimeSettings,
    pub(super) builds: BuildSettings,
    /// `<data_dir>`: slugs, builds' work directories, build caches and the built-in buildpacks
    /// live under it.
    pub(super) data_dir: PathBuf,
    pub(super) slugs_dir: PathBuf,
    /// This broker's name on the runtime's supervisor lease.
    pub(super) supervisor: String,
    /// This broker's API URL, for the other replicas.
    pub(super) url: String,
    /// Whether this broker holds the lease now (only the holder starts and stops dynos).
    pub(super) holding: std::sync::atomic::AtomicBool,
    /// When the lease as last renewed runs out (ms).
    pub(super) held_until: std::sync::atomic::AtomicI64,
    /// Fetches buildpack archives.
    pub(super) http: reqwest::Client,
    pub(super) supervision: Mutex<Supervision>,
    /// The last lines of each app's log, by app id.
    pub(super) logs: std::sync::Mutex<HashMap<String, VecDeque<LogLine>>>,
    pub(super) log_tx: broadcast::Sender<LogLine>,
    /// Process types by slug id (slugs never change).
    pub(super) slug_types: std::sync::Mutex<HashMap<String, ProcessTypes>>,
    /// Apps whose release phase (of a pending release) runs now, one at a time per app.
    pub(super) phases: std::sync::Mutex<HashSet<String>>,
    /// Wakes the supervision loop before its next tick (a formation change, a dyno that came
    /// up, a stop that finished).
    pub(super) wake: tokio::sync::Notify,
    /// The output of the builds this broker runs now, by build id.
    pub(super) live_builds: std::sync::Mutex<HashMap<String, tokio::sync::watch::Sender<LiveOutput>>>,
    /// The router's backends: web dynos join once up and leave before they are stopped.
    pub(super) pool: Pool,
}

/// The text a running build has written so far, and whether it has ended (`build_output.rs`).
#[derive(Debug, Default)]
pub(super) struct LiveOutput {
    pub(super) text: String,
    pub(super) done: bool,
}

/// The dyno manager (cheap to clone).
#[derive(Clone)]
pub struct Dynos {
    pub(super) inner: Arc<Inner>,
}

/// Where a dyno manager keeps its files, and who it supervises its runtime as.
#[derive(Debug, Clone)]
pub struct Home {
    /// `<data_dir>`: builds' work directories, build caches, the built-in buildpacks (and the
    /// slugs, unless `runtime.slugs_dir` names a directory the replicas share).
    pub data_dir: PathBuf,
    /// This broker's lease owner (`node-{id}/{boot}`), on the runtime's supervisor lease.
    pub supervisor: String,
    /// This broker's API as the other replicas reach it (recorded with the lease).
    pub url: String,
}

impl Dynos {
    /// The dyno manager over the store and a runtime (`None` when dynos are disabled), keeping
    /// its files under `home` and publishing web dynos to the router's `pool`.
    pub fn new(
        db: Db,
        sealer: Sealer,
        runtime: Option<Arc<dyn Runtime>>,
        settings: RuntimeSettings,
        builds: BuildSettings,
        home: Home,
        pool: Pool,
    ) -> Dynos {
        let Home {
            data_dir,
            supervisor,
            url,
        } = home;
        let slugs_dir = if settings.slugs_dir.is_empty() {
            data_dir.join("slugs")
        } else {
            PathBuf::from(&settings.slugs_dir)
        };
        let (log_tx, _) = broadcast::channel(4096);
        Dynos {
            inner: Arc::new(Inner {
                db,
                sealer,
                runtime,
                settings,
                builds,
                slugs_dir,
                data_dir,
                supervisor,
                url,
                holding: std::sync::atomic::AtomicBool::new(false),
                held_until: std::sync::atomic::AtomicI64::new(0),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(120))
                    .build()
                    .unwrap_or_default(),
                supervision: Mutex::new(Supervision::default()),
                logs: std::sync::Mutex::new(HashMap::new()),
                log_tx,
                slug_types: std::sync::Mutex::new(HashMap::new()),
                phases: std::sync::Mutex::new(HashSet::new()),
                wake: tokio::sync::Notify::new(),
                live_builds: std::sync::Mutex::new(HashMap::new()),
                pool,
            }),
        }
    }

    /// The runtime, or a 422 when this broker runs no dynos.
    pub(super) fn runtime(&self) -> Result<&Arc<dyn Runtime>> {
        self.inner
            .runtime
            .as_ref()
            .ok_or_else(|| Error::Unprocessable("this broker runs no dynos (runtime.backend is \"none\")".into()))
    }

    /// Time between SIGTERM and SIGKILL.
    pub(super) fn grace(&self) -> Duration {
        Duration::from_millis(self.inner.settings.stop_grace_ms)
    }
}

impl Dynos {
    /// The app named by id or name, when the caller may use it (404 otherwise, as for an app
    /// that does not exist).
    pub(super) async fn app_for(&self, app: String, actor: &Actor) -> Result<App> {
        load_app(&self.inner.db, &app, actor, Role::Collaborator).await
    }
}
