//! The dyno manager: builds and slugs, the formation, and the supervision of the dynos that a
//! [`Runtime`] runs.
//!
//! The desired state is in the store: an app's latest release (its slug and sealed config
//! vars) and its formation (quantity and size per process type). What runs is what the runtime
//! lists, each container labelled with its app, dyno name, release and size. A loop
//! ([`Dynos::run`]) compares the two every `runtime.tick_ms` and acts:
//!
//! - a missing dyno is started (a crashed one after an exponential backoff, reset by a new
//!   release);
//! - a dyno of an older release, size or command is replaced, one dyno of the app at a time:
//!   the replacement starts next to it and the old one is stopped once the new one is up, so a
//!   process type with two or more dynos never drops to zero. A release must be
//!   `restart_debounce_ms` old before it rolls out, so releases that arrive together (several
//!   add-ons attached at once) restart each dyno once, on the newest;
//! - extra dynos (scale down, duplicates found after a broker restart, deleted apps) are
//!   stopped: SIGTERM, then SIGKILL after `stop_grace_ms`.
//!
//! Nothing here is only in memory that a restart would need: a new broker lists the runtime's
//! containers, adopts those that match the formation, and restarts or stops the rest.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use runtime::{ContainerSpec, ContainerStatus, Limits, Runtime, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, Mutex};
use tracing::{info, warn};
use utoipa::ToSchema;

use crate::catalog::clip;
use crate::config::RuntimeSettings;
use crate::crypto::Sealer;
use crate::db::models::{App, Build, Formation, Release, Slug};
use crate::db::schema::{apps, builds, formations, releases, slugs};
use crate::db::{now_ms, Db, DbConnection};
use crate::error::log_if_internal;
use crate::error::{Error, Result};
use crate::platform::{find_app, insert_release, iso, latest_release, open_config, Actor, IdRef, NameRef};
use crate::provisioning::audit;
use crate::slugs::{self as archive, ProcessTypes};

/// A dyno size: the kernel limits its dynos run under.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Name (`standard-1x`).
    pub name: &'static str,
    /// Memory limit in bytes.
    pub memory_bytes: u64,
    /// Process (and thread) limit.
    pub max_processes: u64,
}

/// The dyno sizes, Heroku's names and memory; the first is the default.
pub const SIZES: [Size; 4] = [
    Size {
        name: "standard-1x",
        memory_bytes: 512 << 20,
        max_processes: 256,
    },
    Size {
        name: "standard-2x",
        memory_bytes: 1 << 30,
        max_processes: 512,
    },
    Size {
        name: "performance-m",
        memory_bytes: 2560 << 20,
        max_processes: 16_384,
    },
    Size {
        name: "performance-l",
        memory_bytes: 14 << 30,
        max_processes: 32_768,
    },
];

/// Age after which a slug directory without a slug row is removed.
const SLUG_GC_AGE: Duration = Duration::from_secs(600);
/// How often slug directories are collected.
const SLUG_GC_EVERY: Duration = Duration::from_secs(600);
/// Lines of log kept per app (Heroku keeps 1,500).
const LOG_LINES: usize = 1500;
/// Longest log line; longer output without a newline is cut.
const MAX_LINE: usize = 64 * 1024;
/// Largest output shown for a one-off dyno.
const MAX_OUTPUT: usize = 1 << 20;

fn size(name: &str) -> Result<Size> {
    SIZES.iter().copied().find(|s| s.name == name).ok_or_else(|| {
        Error::Unprocessable(format!(
            "unknown dyno size {}; sizes are {}",
            clip(name),
            SIZES.map(|s| s.name).join(", ")
        ))
    })
}

/// A formation entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FormationView {
    /// UUID.
    pub id: String,
    /// Process type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// Dynos wanted.
    pub quantity: i32,
    /// Dyno size.
    pub size: String,
    /// The process type's command in the current release.
    pub command: String,
    /// The app.
    pub app: NameRef,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// One change of `PATCH /apps/{app}/formation`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormationUpdate {
    /// Process type (required in batch updates; the path's in `PATCH …/formation/{type}`).
    #[serde(rename = "type")]
    pub process_type: Option<String>,
    /// Dynos wanted, 0 to `runtime.max_quantity`.
    pub quantity: Option<i32>,
    /// Dyno size.
    pub size: Option<String>,
}

/// A release reference.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseRef {
    /// UUID, when the release still exists.
    pub id: Option<String>,
    /// Version.
    pub version: i32,
}

/// A dyno.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DynoView {
    /// The container's id.
    pub id: String,
    /// `web.1`, `run.3` …
    pub name: String,
    /// Process type (`run` for one-off dynos).
    #[serde(rename = "type")]
    pub process_type: String,
    /// `starting`, `up`, `crashed` or `down`.
    pub state: String,
    /// The release it runs.
    pub release: ReleaseRef,
    /// Its command.
    pub command: String,
    /// Dyno size.
    pub size: String,
    /// Port it must listen on (`$PORT`; web dynos only).
    pub port: Option<u16>,
    /// Exit code, once it ended by itself.
    pub exit_code: Option<i32>,
    /// Crashes since the current release, for formation dynos.
    pub restarts: u32,
    /// Always null: output is read from `/output` or the logs.
    pub attach_url: Option<String>,
    /// The app.
    pub app: NameRef,
    /// When it started (ISO 8601 UTC).
    pub created_at: String,
    /// When its state last changed (ISO 8601 UTC).
    pub updated_at: String,
    /// Output, for `attach: true` runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Body of `POST /apps/{app}/dynos`: a one-off dyno.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Command line, run by `/bin/sh -c` in `/app`.
    pub command: String,
    /// Wait for the dyno to end and answer with its output and exit code.
    #[serde(default)]
    pub attach: bool,
    /// Seconds before it is stopped (default 3600, at most 86400).
    pub time_to_live: Option<u64>,
    /// Dyno size (default `standard-1x`).
    pub size: Option<String>,
    /// Extra environment variables for this dyno only.
    pub env: Option<BTreeMap<String, String>>,
}

/// A dyno's output.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutputView {
    /// Dyno name.
    pub name: String,
    /// `up`, `crashed`, `down` …
    pub state: String,
    /// Exit code, once it ended by itself.
    pub exit_code: Option<i32>,
    /// stdout and stderr as written (the first MiB).
    pub output: String,
}

/// A slug.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlugView {
    /// UUID.
    pub id: String,
    /// Process type → command, from the Procfile.
    pub process_types: BTreeMap<String, String>,
    /// Unpacked size in bytes.
    pub size: i64,
    /// `SHA256:<hex>` of the uploaded archive.
    pub checksum: String,
    /// ISO 8601 UTC.
    pub created_at: String,
}

/// A build.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuildView {
    /// UUID.
    pub id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// The slug it made.
    pub slug: Option<IdRef>,
    /// The release it made.
    pub release: Option<ReleaseRef>,
    /// What went wrong, or the release phase's output.
    pub output: String,
    /// The app.
    pub app: NameRef,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// A log line.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// App id.
    pub app_id: String,
    /// When the broker read it (ms).
    pub at_ms: i64,
    /// `app` (the dyno's output) or `broker` (the dyno manager's messages).
    pub source: &'static str,
    /// Dyno name.
    pub dyno: String,
    /// The text, without its newline.
    pub text: String,
}

impl LogLine {
    /// `2026-11-26T09:00:00.123456+00:00 app[web.1]: text`, as Heroku prints.
    pub fn render(&self) -> String {
        let t = chrono::DateTime::from_timestamp_millis(self.at_ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
            .unwrap_or_default();
        format!("{t} {}[{}]: {}\n", self.source, self.dyno, self.text)
    }
}

/// Which logs to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only this dyno (`web.1`) or process type (`web`).
    pub dyno: Option<String>,
    /// Only this source (`app` or `broker`).
    pub source: Option<String>,
    /// Lines from the buffer (default 100, at most 1500).
    pub lines: Option<usize>,
}

impl LogQuery {
    /// True when `line` is wanted.
    pub fn matches(&self, line: &LogLine) -> bool {
        let dyno_ok = self
            .dyno
            .as_ref()
            .is_none_or(|d| line.dyno == *d || line.dyno.split('.').next() == Some(d.as_str()));
        dyno_ok && self.source.as_ref().is_none_or(|s| line.source == s)
    }
}

/// What a dyno is started with.
struct Launch<'a> {
    app_id: &'a str,
    /// `web.1`, `run.3`, `release.7`.
    name: &'a str,
    /// `formation`, `run` or `release`.
    kind: &'a str,
    process_type: &'a str,
    release: i32,
    size: Size,
    command: &'a str,
    slug_id: &'a str,
    config: BTreeMap<String, String>,
    /// `$PORT`, for web dynos.
    port: Option<u16>,
    /// Time to live, for one-off dynos.
    ttl_ms: Option<u64>,
}

/// Sort key of a dyno name: `web` first, then by type, then by number (`web.2` before `web.10`).
fn dyno_order(name: &str) -> ((bool, String), u64) {
    let (t, n) = name.split_once('.').unwrap_or((name, "0"));
    (type_order(t), n.parse().unwrap_or(0))
}

#[derive(Debug, Default)]
struct SlotState {
    crashes: u32,
    not_before: Option<Instant>,
    release: i32,
}

#[derive(Default)]
struct Supervision {
    slots: HashMap<(String, String), SlotState>,
    up: HashMap<String, i64>,
    stopping: HashSet<String>,
    crash_counted: HashSet<String>,
    offsets: HashMap<String, (u64, Vec<u8>)>,
    first_tick_done: bool,
    /// The earliest moment something becomes due (a release settling, a backoff ending).
    wake_at: Option<Instant>,
    /// When this broker first saw each container (boot timeouts count from here, so that a
    /// restarted broker does not judge adopted dynos by their age).
    first_seen: HashMap<String, i64>,
}

impl Supervision {
    fn wake_by(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

/// The desired state of one app.
struct Desired {
    app: App,
    release: Option<(Release, ProcessTypes)>,
    formation: Vec<Formation>,
}

struct Inner {
    db: Db,
    sealer: Sealer,
    runtime: Option<Arc<dyn Runtime>>,
    settings: RuntimeSettings,
    slugs_dir: PathBuf,
    supervision: Mutex<Supervision>,
    logs: std::sync::Mutex<HashMap<String, VecDeque<LogLine>>>,
    log_tx: broadcast::Sender<LogLine>,
    slug_types: std::sync::Mutex<HashMap<String, ProcessTypes>>,
    /// Wakes the supervision loop before its next tick (a formation change, a dyno that came
    /// up, a stop that finished).
    wake: tokio::sync::Notify,
}

/// The dyno manager (cheap to clone).
#[derive(Clone)]
pub struct Dynos {
    inner: Arc<Inner>,
}

fn label<'a>(c: &'a ContainerStatus, key: &str) -> &'a str {
    c.labels.get(key).map_or("", String::as_str)
}

fn release_of(c: &ContainerStatus) -> i32 {
    label(c, "release").parse().unwrap_or(0)
}

fn port_of(c: &ContainerStatus) -> Option<u16> {
    label(c, "port").parse().ok()
}

fn exit_of(c: &ContainerStatus) -> Option<&runtime::Exit> {
    match &c.state {
        State::Exited(e) => Some(e),
        State::Running => None,
    }
}

fn runtime_err(e: runtime::RuntimeError) -> Error {
    match e {
        runtime::RuntimeError::Invalid(m) => Error::Unprocessable(m),
        runtime::RuntimeError::NotFound(m) => Error::NotFound(format!("no dyno {m}")),
        runtime::RuntimeError::Host(m) => Error::Internal(format!("runtime: {m}")),
    }
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Internal(format!("finding a free port: {e}")))
}

fn process_types_of(slug: &Slug) -> ProcessTypes {
    serde_json::from_str(&slug.process_types).unwrap_or_default()
}

/// Process types in rollout order: `web` first, then by name.
fn type_order(t: &str) -> (bool, String) {
    (t != "web", t.to_string())
}

/// Whether an actor may act on an app's code, dynos and logs (which expose its config).
fn require_owner(app: &App, actor: &Actor) -> Result<()> {
    if actor.scope == crate::auth::Scope::Admin || actor.sub == app.owner {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "only the owner of app {} (or an admin) may do this",
            app.name
        )))
    }
}

impl Dynos {
    /// The dyno manager over the store and a runtime (`None` when dynos are disabled).
    pub fn new(
        db: Db,
        sealer: Sealer,
        runtime: Option<Arc<dyn Runtime>>,
        settings: RuntimeSettings,
        slugs_dir: PathBuf,
    ) -> Dynos {
        let (log_tx, _) = broadcast::channel(4096);
        Dynos {
            inner: Arc::new(Inner {
                db,
                sealer,
                runtime,
                settings,
                slugs_dir,
                supervision: Mutex::new(Supervision::default()),
                logs: std::sync::Mutex::new(HashMap::new()),
                log_tx,
                slug_types: std::sync::Mutex::new(HashMap::new()),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    fn runtime(&self) -> Result<&Arc<dyn Runtime>> {
        self.inner
            .runtime
            .as_ref()
            .ok_or_else(|| Error::Unprocessable("this broker runs no dynos (runtime.backend is \"none\")".into()))
    }

    fn grace(&self) -> Duration {
        Duration::from_millis(self.inner.settings.stop_grace_ms)
    }

    /// Appends a line to an app's log and to live tails.
    fn log(&self, app_id: &str, source: &'static str, dyno: &str, text: String) {
        let line = LogLine {
            app_id: app_id.to_string(),
            at_ms: now_ms(),
            source,
            dyno: dyno.to_string(),
            text,
        };
        if let Ok(mut logs) = self.inner.logs.lock() {
            let buf = logs.entry(app_id.to_string()).or_default();
            if buf.len() >= LOG_LINES {
                buf.pop_front();
            }
            buf.push_back(line.clone());
        }
        let _ = self.inner.log_tx.send(line);
    }

    // ---- builds and slugs ------------------------------------------------------------------

    /// Turns a `.tar.gz` of the app's source into a slug and, after the Procfile's `release`
    /// command (if any) succeeds, a release that runs it. A bad archive is a 400 and leaves
    /// nothing; a failing release phase makes a `failed` build and no release.
    pub async fn build(&self, app: String, archive: Vec<u8>, actor: &Actor) -> Result<BuildView> {
        let a = self.inner.db.run(move |c| find_app(c, &app)).await?;
        require_owner(&a, actor)?;
        let slug_id = uuid::Uuid::new_v4().to_string();
        let dest = self.inner.slugs_dir.join(&slug_id);
        std::fs::create_dir_all(&self.inner.slugs_dir)
            .map_err(|e| Error::Internal(format!("creating {}: {e}", self.inner.slugs_dir.display())))?;
        let max = self.inner.settings.max_slug_bytes;
        let unpacked = {
            let dest = dest.clone();
            tokio::task::spawn_blocking(move || archive::unpack(&archive, &dest, max))
                .await
                .map_err(|e| Error::Internal(format!("unpacking: {e}")))??
        };
        let now = now_ms();
        let slug = Slug {
            id: slug_id.clone(),
            app_id: a.id.clone(),
            process_types: json!(unpacked.process_types).to_string(),
            size: unpacked.size as i64,
            checksum: unpacked.checksum.clone(),
            created_at: now,
        };
        let build = Build {
            id: uuid::Uuid::new_v4().to_string(),
            app_id: a.id.clone(),
            status: "pending".into(),
            slug_id: Some(slug_id.clone()),
            release_version: None,
            output: String::new(),
            created_by: Some(actor.sub.clone()),
            created_at: now,
            updated_at: now,
        };
        {
            let (slug, build, meta, app_id) = (slug.clone(), build.clone(), actor.meta(), a.id.clone());
            let written = self
                .inner
                .db
                .write(move |c| {
                    // The app may have been deleted while the archive unpacked.
                    apps::table
                        .find(&app_id)
                        .select(App::as_select())
                        .first(c)
                        .optional()?
                        .ok_or_else(|| Error::NotFound("the app was deleted during the build".into()))?;
                    diesel::insert_into(slugs::table).values(&slug).execute(c)?;
                    diesel::insert_into(builds::table).values(&build).execute(c)?;
                    audit(
                        c,
                        &meta,
                        "platform.build.create",
                        format!("app/{app_id}"),
                        json!({ "build": build.id, "slug": slug.id }),
                    )
                })
                .await;
            if let Err(e) = written {
                let _ = std::fs::remove_dir_all(&dest);
                return Err(e);
            }
        }
        let mut output = String::new();
        let mut ok = true;
        if let Some(command) = unpacked.process_types.get("release") {
            match self.release_phase(&a, &slug_id, command).await {
                Ok((success, text)) => (ok, output) = (success, text),
                // The build is recorded as failed rather than left pending.
                Err(e) => {
                    log_if_internal(&e, &actor.request_id);
                    ok = false;
                    output = format!("the release phase could not run: {}\n", e.public_message());
                }
            }
        }
        let (sealer, actor2, types) = (self.inner.sealer.clone(), actor.clone(), unpacked.process_types.clone());
        let (build_id, app_id, out2, checksum) = (
            build.id.clone(),
            a.id.clone(),
            output.clone(),
            unpacked.checksum.clone(),
        );
        let done = self
            .inner
            .db
            .write(move |c| {
                let mut b: Build = builds::table.find(&build_id).select(Build::as_select()).first(c)?;
                b.output = out2.clone();
                b.updated_at = now_ms();
                if ok {
                    let config = latest_release(c, &app_id)?
                        .map(|r| open_config(&sealer, &r))
                        .transpose()?
                        .unwrap_or_default();
                    let short = checksum
                        .trim_start_matches("SHA256:")
                        .chars()
                        .take(7)
                        .collect::<String>();
                    let r = insert_release(
                        c,
                        &sealer,
                        &app_id,
                        format!("Deploy {short}"),
                        &config,
                        &actor2,
                        Some(b.slug_id.clone().unwrap_or_default()),
                    )?;
                    sync_formation(c, &app_id, &types)?;
                    b.status = "succeeded".into();
                    b.release_version = Some(r.version);
                } else {
                    b.status = "failed".into();
                }
                diesel::update(builds::table.find(&build_id)).set(&b).execute(c)?;
                Ok(b)
            })
            .await?;
        self.inner.wake.notify_one();
        let releases = self.release_ids(&a.id).await?;
        Ok(self.build_view(&a, done, &releases))
    }

    fn build_view(&self, a: &App, b: Build, releases: &HashMap<i32, String>) -> BuildView {
        let release = b.release_version.map(|v| ReleaseRef {
            id: releases.get(&v).cloned(),
            version: v,
        });
        BuildView {
            id: b.id,
            status: b.status,
            slug: b.slug_id.map(|id| IdRef { id }),
            release,
            output: b.output,
            app: NameRef {
                id: a.id.clone(),
                name: a.name.clone(),
            },
            created_at: iso(b.created_at),
            updated_at: iso(b.updated_at),
        }
    }

    /// Runs the release phase of a new slug with the current config; `(succeeded, output)`.
    async fn release_phase(&self, a: &App, slug_id: &str, command: &str) -> Result<(bool, String)> {
        let rt = self.runtime()?.clone();
        let (sealer, app_id) = (self.inner.sealer.clone(), a.id.clone());
        let (version, config) = self
            .inner
            .db
            .run(move |c| {
                let r = latest_release(c, &app_id)?;
                let version = r.as_ref().map_or(0, |r| r.version) + 1;
                Ok((
                    version,
                    r.map(|r| open_config(&sealer, &r)).transpose()?.unwrap_or_default(),
                ))
            })
            .await?;
        let name = format!("release.{version}");
        let status = self
            .launch(Launch {
                app_id: &a.id,
                name: &name,
                kind: "release",
                process_type: "release",
                release: version,
                size: SIZES[0],
                command,
                slug_id,
                config,
                port: None,
                ttl_ms: None,
            })
            .await?;
        let deadline = Instant::now() + Duration::from_millis(self.inner.settings.release_phase_timeout_ms);
        let ended = self.wait_for_exit(&status.id, deadline).await;
        let out = rt.output(&status.id, 0, MAX_OUTPUT).await.map_err(runtime_err);
        // The container goes whatever happened; one left behind by an error here is collected
        // by the supervision loop.
        let _ = rt.remove(&status.id).await;
        let (ended, out) = (ended?, out?);
        let exit = exit_of(&ended).cloned();
        let mut text = String::from_utf8_lossy(&out.bytes).into_owned();
        let ok = exit.as_ref().is_some_and(|e| e.code == Some(0));
        let verdict = match &exit {
            _ if ok => "Release phase succeeded".to_string(),
            Some(e) if !e.stopped => format!(
                "Release phase failed (exit status {}); the previous release keeps running",
                e.code.map_or("killed".into(), |c| c.to_string())
            ),
            _ => "Release phase timed out; the previous release keeps running".to_string(),
        };
        self.log(&a.id, "broker", &name, verdict.clone());
        text.push_str(&verdict);
        text.push('\n');
        Ok((ok, text))
    }

    /// Starts a dyno's container with its labels, environment and limits.
    async fn launch(&self, l: Launch<'_>) -> Result<ContainerStatus> {
        let rt = self.runtime()?;
        let mut labels = BTreeMap::from([
            ("app".to_string(), l.app_id.to_string()),
            ("dyno".into(), l.name.to_string()),
            ("type".into(), l.process_type.to_string()),
            ("kind".into(), l.kind.to_string()),
            ("release".into(), l.release.to_string()),
            ("size".into(), l.size.name.into()),
        ]);
        if let Some(p) = l.port {
            labels.insert("port".into(), p.to_string());
        }
        if let Some(t) = l.ttl_ms {
            labels.insert("ttl_ms".into(), t.to_string());
        }
        self.log(
            l.app_id,
            "broker",
            l.name,
            format!("Starting process with command `{}`", l.command),
        );
        rt.start(ContainerSpec {
            id: uuid::Uuid::new_v4().to_string(),
            labels,
            hostname: l.name.to_string(),
            command: l.command.to_string(),
            env: self.environment(l.config, l.name, l.port),
            app_source: self.inner.slugs_dir.join(l.slug_id),
            limits: Limits {
                memory_bytes: l.size.memory_bytes,
                max_processes: l.size.max_processes,
            },
        })
        .await
        .map_err(runtime_err)
    }

    /// Waits for a container to end; at `deadline` it is stopped (SIGTERM, the grace, SIGKILL).
    async fn wait_for_exit(&self, id: &str, deadline: Instant) -> Result<ContainerStatus> {
        let rt = self.runtime()?;
        loop {
            let s = rt.status(id).await.map_err(runtime_err)?;
            if !s.running() {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return rt.stop(id, self.grace()).await.map_err(runtime_err);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// An app's builds, oldest first (their output can show what the release phase printed:
    /// the app's owner and admins only).
    pub async fn builds(&self, app: String, actor: &Actor) -> Result<Vec<BuildView>> {
        let actor = actor.clone();
        let (a, list) = self
            .inner
            .db
            .run(move |c| {
                let a = find_app(c, &app)?;
                require_owner(&a, &actor)?;
                let list: Vec<Build> = builds::table
                    .filter(builds::app_id.eq(&a.id))
                    .order(builds::created_at.asc())
                    .select(Build::as_select())
                    .load(c)?;
                Ok((a, list))
            })
            .await?;
        let releases = self.release_ids(&a.id).await?;
        Ok(list.into_iter().map(|b| self.build_view(&a, b, &releases)).collect())
    }

    /// One build (the app's owner and admins only).
    pub async fn get_build(&self, app: String, id: String, actor: &Actor) -> Result<BuildView> {
        let actor = actor.clone();
        let (a, b) = self
            .inner
            .db
            .run(move |c| {
                let a = find_app(c, &app)?;
                require_owner(&a, &actor)?;
                let b = builds::table
                    .filter(builds::app_id.eq(&a.id).and(builds::id.eq(&id)))
                    .select(Build::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| Error::NotFound(format!("build {} does not exist", clip(&id))))?;
                Ok((a, b))
            })
            .await?;
        let releases = self.release_ids(&a.id).await?;
        Ok(self.build_view(&a, b, &releases))
    }

    /// One slug.
    pub async fn slug(&self, app: String, id: String) -> Result<SlugView> {
        let s = self
            .inner
            .db
            .run(move |c| {
                let a = find_app(c, &app)?;
                slugs::table
                    .filter(slugs::app_id.eq(&a.id).and(slugs::id.eq(&id)))
                    .select(Slug::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| Error::NotFound(format!("slug {} does not exist", clip(&id))))
            })
            .await?;
        Ok(SlugView {
            process_types: process_types_of(&s),
            id: s.id,
            size: s.size,
            checksum: s.checksum,
            created_at: iso(s.created_at),
        })
    }

    /// Removes slug directories that no slug row names (their app was deleted) and unpacks
    /// that never finished, once they are `SLUG_GC_AGE` old (so that a build unpacking right
    /// now, whose row is not written yet, is left alone). Returns how many went.
    pub async fn collect_slugs(&self) -> Result<usize> {
        let known: HashSet<String> = self
            .inner
            .db
            .run(|c| Ok(slugs::table.select(slugs::id).load::<String>(c)?))
            .await?
            .into_iter()
            .collect();
        let dir = self.inner.slugs_dir.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return 0;
            };
            let mut removed = 0;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= SLUG_GC_AGE);
                if old && !known.contains(&name) && std::fs::remove_dir_all(entry.path()).is_ok() {
                    removed += 1;
                }
            }
            removed
        })
        .await
        .map_err(|e| Error::Internal(format!("collecting slugs: {e}")))
    }

    /// Marks builds left `pending` by a broker that died as failed.
    pub async fn fail_interrupted_builds(&self) -> Result<usize> {
        self.inner
            .db
            .write(|c| {
                Ok(diesel::update(builds::table.filter(builds::status.eq("pending")))
                    .set((
                        builds::status.eq("failed"),
                        builds::output.eq("the broker restarted during this build; push again\n"),
                        builds::updated_at.eq(now_ms()),
                    ))
                    .execute(c)?)
            })
            .await
    }

    // ---- formation --------------------------------------------------------------------------

    async fn formation_rows(&self, app: String) -> Result<(App, Vec<Formation>, ProcessTypes)> {
        self.inner
            .db
            .run(move |c| {
                let a = find_app(c, &app)?;
                let rows: Vec<Formation> = formations::table
                    .filter(formations::app_id.eq(&a.id))
                    .select(Formation::as_select())
                    .load(c)?;
                let types = current_types(c, &a.id)?;
                Ok((a, rows, types))
            })
            .await
    }

    fn formation_view(a: &App, f: Formation, types: &ProcessTypes) -> FormationView {
        FormationView {
            command: types.get(&f.process_type).cloned().unwrap_or_default(),
            id: f.id,
            process_type: f.process_type,
            quantity: f.quantity,
            size: f.size,
            app: NameRef {
                id: a.id.clone(),
                name: a.name.clone(),
            },
            created_at: iso(f.created_at),
            updated_at: iso(f.updated_at),
        }
    }

    /// An app's formation, `web` first.
    pub async fn formation(&self, app: String) -> Result<Vec<FormationView>> {
        let (a, mut rows, types) = self.formation_rows(app).await?;
        rows.sort_by_key(|f| type_order(&f.process_type));
        Ok(rows.into_iter().map(|f| Self::formation_view(&a, f, &types)).collect())
    }

    /// One process type's formation.
    pub async fn formation_of(&self, app: String, process_type: String) -> Result<FormationView> {
        let (a, rows, types) = self.formation_rows(app).await?;
        rows.into_iter()
            .find(|f| f.process_type == process_type)
            .map(|f| Self::formation_view(&a, f, &types))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no process type {} in the formation of app {}",
                    clip(&process_type),
                    a.name
                ))
            })
    }

    /// Applies formation changes, all or none; returns the changed entries.
    pub async fn update_formation(
        &self,
        app: String,
        updates: Vec<FormationUpdate>,
        actor: &Actor,
    ) -> Result<Vec<FormationView>> {
        self.runtime()?;
        if updates.is_empty() {
            return Err(Error::BadRequest("updates must name at least one process type".into()));
        }
        let max = self.inner.settings.max_quantity;
        for u in &updates {
            let t = u
                .process_type
                .as_deref()
                .ok_or_else(|| Error::BadRequest("every update needs a \"type\"".into()))?;
            if !archive::valid_process_type(t) {
                return Err(Error::BadRequest(format!("process type {} is not valid", clip(t))));
            }
            if u.quantity.is_none() && u.size.is_none() {
                return Err(Error::BadRequest(format!(
                    "the update of {t} changes neither quantity nor size"
                )));
            }
            if let Some(q) = u.quantity {
                if !(0..=max).contains(&q) {
                    return Err(Error::Unprocessable(format!(
                        "quantity of {t} must be 0 to {max}; got {q}"
                    )));
                }
            }
            if let Some(s) = &u.size {
                size(s)?;
            }
        }
        let (actor2, updates2) = (actor.clone(), updates.clone());
        let (a, changed, types) = self
            .inner
            .db
            .write(move |c| {
                let a = find_app(c, &app)?;
                require_owner(&a, &actor2)?;
                let types = current_types(c, &a.id)?;
                let mut changed = Vec::new();
                for u in &updates2 {
                    let t = u.process_type.clone().unwrap_or_default();
                    let mut f: Formation = formations::table
                        .filter(formations::app_id.eq(&a.id).and(formations::process_type.eq(&t)))
                        .select(Formation::as_select())
                        .first(c)
                        .optional()?
                        .ok_or_else(|| {
                            Error::NotFound(format!(
                                "no process type {} in the Procfile of app {}",
                                clip(&t),
                                a.name
                            ))
                        })?;
                    if let Some(q) = u.quantity {
                        f.quantity = q;
                    }
                    if let Some(s) = &u.size {
                        f.size = s.clone();
                    }
                    f.updated_at = now_ms();
                    diesel::update(formations::table.find(&f.id)).set(&f).execute(c)?;
                    changed.push(f);
                }
                audit(
                    c,
                    &actor2.meta(),
                    "platform.formation.update",
                    format!("app/{}", a.id),
                    json!(changed
                        .iter()
                        .map(|f| json!({"type": f.process_type, "quantity": f.quantity, "size": f.size}))
                        .collect::<Vec<_>>()),
                )?;
                Ok((a, changed, types))
            })
            .await?;
        for f in &changed {
            self.log(
                &a.id,
                "broker",
                &f.process_type,
                format!("Scaled to {}@{}:{}", f.process_type, f.quantity, f.size),
            );
        }
        self.inner.wake.notify_one();
        Ok(changed
            .into_iter()
            .map(|f| Self::formation_view(&a, f, &types))
            .collect())
    }

    // ---- dynos ------------------------------------------------------------------------------

    async fn app_and_containers(&self, app: String) -> Result<(App, Vec<ContainerStatus>)> {
        let rt = self.runtime()?.clone();
        let a = self.inner.db.run(move |c| find_app(c, &app)).await?;
        let list = rt
            .list()
            .await
            .map_err(runtime_err)?
            .into_iter()
            .filter(|c| label(c, "app") == a.id && label(c, "kind") != "release")
            .collect();
        Ok((a, list))
    }

    /// Release ids of an app by version (views show `{id, version}` as Heroku does).
    async fn release_ids(&self, app_id: &str) -> Result<HashMap<i32, String>> {
        let app_id = app_id.to_string();
        self.inner
            .db
            .run(move |c| {
                let rows: Vec<(i32, String)> = releases::table
                    .filter(releases::app_id.eq(&app_id))
                    .select((releases::version, releases::id))
                    .load(c)?;
                Ok(rows.into_iter().collect())
            })
            .await
    }

    fn dyno_view(&self, a: &App, c: &ContainerStatus, sup: &Supervision, releases: &HashMap<i32, String>) -> DynoView {
        let exit = exit_of(c);
        let state = match exit {
            None if sup.up.contains_key(&c.id) => "up",
            None => "starting",
            Some(e) if label(c, "kind") == "formation" && !e.stopped => "crashed",
            Some(e) if label(c, "kind") == "run" && !e.stopped && e.code != Some(0) => "crashed",
            Some(_) => "down",
        };
        let name = label(c, "dyno").to_string();
        let updated = exit
            .map(|e| e.at_ms)
            .or_else(|| sup.up.get(&c.id).copied())
            .unwrap_or(c.started_at_ms);
        DynoView {
            id: c.id.clone(),
            process_type: label(c, "type").to_string(),
            state: state.into(),
            release: ReleaseRef {
                id: releases.get(&release_of(c)).cloned(),
                version: release_of(c),
            },
            command: c.command.clone(),
            size: label(c, "size").to_string(),
            port: port_of(c),
            exit_code: exit.and_then(|e| e.code),
            restarts: sup.slots.get(&(a.id.clone(), name.clone())).map_or(0, |s| s.crashes),
            attach_url: None,
            app: NameRef {
                id: a.id.clone(),
                name: a.name.clone(),
            },
            name,
            created_at: iso(c.started_at_ms),
            updated_at: iso(updated),
            output: None,
        }
    }

    /// The current dyno of each slot and the app's one-off dynos.
    fn current(list: &[ContainerStatus], stopping: &HashSet<String>) -> Vec<ContainerStatus> {
        let mut by_name: BTreeMap<String, &ContainerStatus> = BTreeMap::new();
        for c in list {
            let name = label(c, "dyno").to_string();
            // Per name: a running container that is not being retired beats an exited one,
            // then the newest.
            let rank = |x: &ContainerStatus| (x.running() && !stopping.contains(&x.id), x.started_at_ms);
            match by_name.get(&name) {
                Some(old) if rank(old) >= rank(c) => {}
                _ => {
                    by_name.insert(name, c);
                }
            }
        }
        by_name.into_values().cloned().collect()
    }

    /// An app's dynos.
    pub async fn list(&self, app: String) -> Result<Vec<DynoView>> {
        let (a, list) = self.app_and_containers(app).await?;
        let releases = self.release_ids(&a.id).await?;
        let sup = self.inner.supervision.lock().await;
        let mut views: Vec<DynoView> = Self::current(&list, &sup.stopping)
            .iter()
            .map(|c| self.dyno_view(&a, c, &sup, &releases))
            .collect();
        views.sort_by_key(|v| dyno_order(&v.name));
        Ok(views)
    }

    async fn find_dyno(&self, app: String, dyno: &str) -> Result<(App, ContainerStatus)> {
        let (a, list) = self.app_and_containers(app).await?;
        let sup = self.inner.supervision.lock().await;
        let current = Self::current(&list, &sup.stopping);
        current
            .into_iter()
            .find(|c| c.id == dyno || label(c, "dyno") == dyno)
            .map(|c| (a.clone(), c))
            .ok_or_else(|| Error::NotFound(format!("app {} has no dyno {}", a.name, clip(dyno))))
    }

    /// One dyno, by name or id.
    pub async fn get(&self, app: String, dyno: String) -> Result<DynoView> {
        let (a, c) = self.find_dyno(app, &dyno).await?;
        let releases = self.release_ids(&a.id).await?;
        let sup = self.inner.supervision.lock().await;
        Ok(self.dyno_view(&a, &c, &sup, &releases))
    }

    /// Stops containers in the background (SIGTERM, then SIGKILL after the grace period).
    fn stop_in_background(&self, sup: &mut Supervision, c: &ContainerStatus, why: &str) {
        if !c.running() || !sup.stopping.insert(c.id.clone()) {
            return;
        }
        let (me, id) = (self.clone(), c.id.clone());
        let (app_id, name) = (label(c, "app").to_string(), label(c, "dyno").to_string());
        self.log(
            &app_id,
            "broker",
            &name,
            format!("Stopping all processes with SIGTERM ({why})"),
        );
        tokio::spawn(async move {
            if let Ok(rt) = me.runtime() {
                if let Err(e) = rt.stop(&id, me.grace()).await {
                    warn!(container = %id, error = %e, "stopping a dyno failed");
                }
            }
            me.inner.supervision.lock().await.stopping.remove(&id);
            me.inner.wake.notify_one();
        });
    }

    /// Restarts one dyno (or, with `None`, all of the app's formation dynos): they are stopped
    /// and the dyno manager starts them again at once.
    pub async fn restart(&self, app: String, dyno: Option<String>, actor: &Actor) -> Result<()> {
        let (a, list) = self.app_and_containers(app).await?;
        require_owner(&a, actor)?;
        let mut sup = self.inner.supervision.lock().await;
        let targets: Vec<ContainerStatus> = Self::current(&list, &sup.stopping)
            .into_iter()
            .filter(|c| match &dyno {
                Some(d) => c.id == *d || label(c, "dyno") == d,
                None => label(c, "kind") == "formation",
            })
            .collect();
        if let (Some(d), true) = (&dyno, targets.is_empty()) {
            return Err(Error::NotFound(format!("app {} has no dyno {}", a.name, clip(d))));
        }
        for c in &targets {
            if let Some(slot) = sup.slots.get_mut(&(a.id.clone(), label(c, "dyno").to_string())) {
                slot.not_before = None;
            }
            self.stop_in_background(&mut sup, c, "restart");
        }
        Ok(())
    }

    /// Stops a dyno. A formation dyno comes back (the formation still wants it), as on Heroku;
    /// a one-off dyno stays down.
    pub async fn stop(&self, app: String, dyno: String, actor: &Actor) -> Result<()> {
        let (a, c) = self.find_dyno(app, &dyno).await?;
        require_owner(&a, actor)?;
        let mut sup = self.inner.supervision.lock().await;
        self.stop_in_background(&mut sup, &c, "stop");
        Ok(())
    }

    fn environment(&self, config: BTreeMap<String, String>, dyno: &str, port: Option<u16>) -> BTreeMap<String, String> {
        let mut env = config;
        env.entry("PATH".into())
            .or_insert_with(|| "/app/bin:/usr/local/bin:/usr/bin:/bin".into());
        env.insert("HOME".into(), "/app".into());
        env.insert("DYNO".into(), dyno.to_string());
        if let Some(p) = port {
            env.insert("PORT".into(), p.to_string());
        }
        env
    }

    /// Starts a one-off dyno (`run.N`) on the current release; with `attach`, waits for it to
    /// end and includes its output.
    pub async fn run_one_off(&self, app: String, req: RunRequest, actor: &Actor) -> Result<DynoView> {
        let rt = self.runtime()?.clone();
        if req.command.trim().is_empty() {
            return Err(Error::BadRequest("command must not be empty".into()));
        }
        let ttl = req.time_to_live.unwrap_or(3600);
        if !(1..=86_400).contains(&ttl) {
            return Err(Error::Unprocessable(format!(
                "time_to_live must be 1 to 86400 seconds; got {ttl}"
            )));
        }
        let sz = size(req.size.as_deref().unwrap_or(SIZES[0].name))?;
        let extra = req.env.clone().unwrap_or_default();
        for k in extra.keys() {
            crate::platform::validate_var_name(k)?;
        }
        let (sealer, actor2) = (self.inner.sealer.clone(), actor.clone());
        let (a, r, mut config) = self
            .inner
            .db
            .run(move |c| {
                let a = find_app(c, &app)?;
                require_owner(&a, &actor2)?;
                let r = latest_release(c, &a.id)?;
                let r = r.filter(|r| r.slug_id.is_some()).ok_or_else(|| {
                    Error::Unprocessable(format!("app {} has no code yet; push a build first", a.name))
                })?;
                let config = open_config(&sealer, &r)?;
                Ok((a, r, config))
            })
            .await?;
        config.extend(extra);
        // The run number is chosen and the container started under the supervision lock, so
        // that two runs never get the same name.
        let mut sup = self.inner.supervision.lock().await;
        let list = rt.list().await.map_err(runtime_err)?;
        let n = list
            .iter()
            .filter(|c| label(c, "app") == a.id && label(c, "kind") == "run")
            .filter_map(|c| label(c, "dyno").strip_prefix("run.")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let name = format!("run.{n}");
        let status = self
            .launch(Launch {
                app_id: &a.id,
                name: &name,
                kind: "run",
                process_type: "run",
                release: r.version,
                size: sz,
                command: &req.command,
                slug_id: r.slug_id.as_deref().unwrap_or_default(),
                config,
                port: None,
                ttl_ms: Some(ttl * 1000),
            })
            .await?;
        sup.offsets.insert(status.id.clone(), (0, Vec::new()));
        sup.up.insert(status.id.clone(), now_ms());
        drop(sup);
        audit_async(
            &self.inner.db,
            actor,
            "platform.dyno.run",
            &a.id,
            json!({ "dyno": name }),
        )
        .await?;
        let releases = self.release_ids(&a.id).await?;
        if !req.attach {
            let sup = self.inner.supervision.lock().await;
            return Ok(self.dyno_view(&a, &status, &sup, &releases));
        }
        let status = self
            .wait_for_exit(&status.id, Instant::now() + Duration::from_secs(ttl))
            .await?;
        let out = rt.output(&status.id, 0, MAX_OUTPUT).await.map_err(runtime_err)?;
        let sup = self.inner.supervision.lock().await;
        let mut view = self.dyno_view(&a, &status, &sup, &releases);
        view.output = Some(String::from_utf8_lossy(&out.bytes).into_owned());
        Ok(view)
    }

    /// A dyno's output (the first MiB), its state and exit code.
    pub async fn output(&self, app: String, dyno: String, actor: &Actor) -> Result<OutputView> {
        let (a, c) = self.find_dyno(app, &dyno).await?;
        require_owner(&a, actor)?;
        let out = self
            .runtime()?
            .output(&c.id, 0, MAX_OUTPUT)
            .await
            .map_err(runtime_err)?;
        let sup = self.inner.supervision.lock().await;
        let view = self.dyno_view(&a, &c, &sup, &HashMap::new());
        Ok(OutputView {
            name: view.name,
            state: view.state,
            exit_code: view.exit_code,
            output: String::from_utf8_lossy(&out.bytes).into_owned(),
        })
    }

    // ---- logs -------------------------------------------------------------------------------

    /// The app's buffered log lines matching `query` and, for tails, a receiver of new lines.
    pub async fn logs(
        &self,
        app: String,
        query: &LogQuery,
        tail: bool,
        actor: &Actor,
    ) -> Result<(App, Vec<String>, Option<broadcast::Receiver<LogLine>>)> {
        let a = self.inner.db.run(move |c| find_app(c, &app)).await?;
        require_owner(&a, actor)?;
        // Subscribe before reading the buffer so that no line falls between the two.
        let rx = tail.then(|| self.inner.log_tx.subscribe());
        let n = query.lines.unwrap_or(100).min(LOG_LINES);
        let lines = self
            .inner
            .logs
            .lock()
            .map(|logs| {
                let buf: Vec<String> = logs
                    .get(&a.id)
                    .map(|b| b.iter().filter(|l| query.matches(l)).map(LogLine::render).collect())
                    .unwrap_or_default();
                buf[buf.len().saturating_sub(n)..].to_vec()
            })
            .unwrap_or_default();
        Ok((a, lines, rx))
    }

    // ---- supervision --------------------------------------------------------------------------

    /// Reads new output of every container into the app logs.
    async fn collect_logs(&self, sup: &mut Supervision, list: &[ContainerStatus]) {
        let Ok(rt) = self.runtime() else { return };
        let first = !sup.first_tick_done;
        for c in list {
            let entry = sup.offsets.entry(c.id.clone()).or_insert((0, Vec::new()));
            loop {
                let Ok(out) = rt.output(&c.id, entry.0, 256 * 1024).await else {
                    break;
                };
                if out.bytes.is_empty() {
                    break;
                }
                entry.0 = out.next_offset;
                if first {
                    // Output from before this broker started was already published (or
                    // missed); it stays readable through /output.
                    continue;
                }
                entry.1.extend_from_slice(&out.bytes);
                while let Some(pos) = entry.1.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = entry.1.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    self.log(label(c, "app"), "app", label(c, "dyno"), text);
                }
                // Output without newlines is cut into lines of at most 64 KiB.
                while entry.1.len() >= MAX_LINE {
                    let line: Vec<u8> = entry.1.drain(..MAX_LINE).collect();
                    self.log(
                        label(c, "app"),
                        "app",
                        label(c, "dyno"),
                        String::from_utf8_lossy(&line).into_owned(),
                    );
                }
            }
            // A container that ended flushes its last partial line.
            if !c.running() && !entry.1.is_empty() {
                let text = String::from_utf8_lossy(&entry.1).into_owned();
                entry.1.clear();
                self.log(label(c, "app"), "app", label(c, "dyno"), text);
            }
        }
        let ids: HashSet<&String> = list.iter().map(|c| &c.id).collect();
        sup.offsets.retain(|id, _| ids.contains(id));
        sup.first_tick_done = true;
    }

    /// The desired state of the apps that have a formation or containers (others need no
    /// supervision, which keeps a tick cheap on a broker with many add-on-only apps).
    async fn load_desired(&self, container_apps: HashSet<String>) -> Result<Vec<Desired>> {
        let cached: HashMap<String, ProcessTypes> = self.inner.slug_types.lock().map(|m| m.clone()).unwrap_or_default();
        let (desired, new_types) = self
            .inner
            .db
            .run(move |c| {
                let rows: Vec<Formation> = formations::table.select(Formation::as_select()).load(c)?;
                let mut ids = container_apps;
                ids.extend(rows.iter().map(|f| f.app_id.clone()));
                let all: Vec<App> = apps::table
                    .filter(apps::id.eq_any(ids.into_iter().collect::<Vec<_>>()))
                    .select(App::as_select())
                    .load(c)?;
                let mut by_app: HashMap<String, Vec<Formation>> = HashMap::new();
                for f in rows {
                    by_app.entry(f.app_id.clone()).or_default().push(f);
                }
                let mut out = Vec::new();
                let mut new_types = HashMap::new();
                for app in all {
                    let formation = by_app.remove(&app.id).unwrap_or_default();
                    let release = match latest_release(c, &app.id)? {
                        Some(r) if r.slug_id.is_some() => {
                            let sid = r.slug_id.clone().unwrap_or_default();
                            let types = match cached.get(&sid) {
                                Some(t) => t.clone(),
                                None => {
                                    let s: Option<Slug> =
                                        slugs::table.find(&sid).select(Slug::as_select()).first(c).optional()?;
                                    let t = s.map(|s| process_types_of(&s)).unwrap_or_default();
                                    new_types.insert(sid, t.clone());
                                    t
                                }
                            };
                            Some((r, types))
                        }
                        _ => None,
                    };
                    out.push(Desired {
                        app,
                        release,
                        formation,
                    });
                }
                Ok((out, new_types))
            })
            .await?;
        if let Ok(mut m) = self.inner.slug_types.lock() {
            m.extend(new_types);
        }
        Ok(desired)
    }

    async fn start_slot(
        &self,
        sup: &mut Supervision,
        d: &Desired,
        f: &Formation,
        name: &str,
        command: &str,
    ) -> Result<()> {
        let Some((r, _)) = &d.release else { return Ok(()) };
        let port = (f.process_type == "web").then(free_port).transpose()?;
        let status = self
            .launch(Launch {
                app_id: &d.app.id,
                name,
                kind: "formation",
                process_type: &f.process_type,
                release: r.version,
                size: size(&f.size)?,
                command,
                slug_id: r.slug_id.as_deref().unwrap_or_default(),
                config: open_config(&self.inner.sealer, r)?,
                port,
                ttl_ms: None,
            })
            .await?;
        sup.offsets.insert(status.id, (0, Vec::new()));
        if let Some(p) = port {
            self.watch_port(p);
        }
        Ok(())
    }

    /// Wakes the supervisor as soon as a new web dyno accepts on its port, so that a rollout
    /// moves on without waiting for the next tick.
    fn watch_port(&self, port: u16) {
        let me = self.clone();
        let until = Instant::now() + Duration::from_millis(me.inner.settings.boot_timeout_ms);
        tokio::spawn(async move {
            while Instant::now() < until {
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    me.inner.wake.notify_one();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }

    /// Marks running containers `up`: web dynos once `$PORT` accepts a connection, others at
    /// once; web dynos that miss the boot timeout are stopped as crashed (Heroku's R10).
    async fn check_up(&self, sup: &mut Supervision, list: &[ContainerStatus]) {
        let boot = self.inner.settings.boot_timeout_ms as i64;
        let pending: Vec<&ContainerStatus> = list
            .iter()
            .filter(|c| c.running() && !sup.up.contains_key(&c.id))
            .collect();
        for c in pending {
            let up = match port_of(c) {
                None => true,
                Some(p) => tokio::time::timeout(
                    Duration::from_millis(200),
                    tokio::net::TcpStream::connect(("127.0.0.1", p)),
                )
                .await
                .is_ok_and(|r| r.is_ok()),
            };
            let (app_id, name) = (label(c, "app"), label(c, "dyno"));
            if up {
                sup.up.insert(c.id.clone(), now_ms());
                self.log(app_id, "broker", name, "State changed from starting to up".into());
            } else if now_ms()
                - c.started_at_ms
                    .max(*sup.first_seen.entry(c.id.clone()).or_insert_with(now_ms))
                > boot
                && !sup.stopping.contains(&c.id)
            {
                self.log(
                    app_id,
                    "broker",
                    name,
                    format!(
                        "Error R10 (Boot timeout): web process failed to bind to $PORT within {} ms",
                        boot
                    ),
                );
                sup.crash_counted.insert(c.id.clone());
                self.count_crash(sup, app_id, name, release_of(c), 0);
                self.stop_in_background(sup, c, "boot timeout");
            }
        }
    }

    fn backoff(&self, crashes: u32) -> Duration {
        let s = &self.inner.settings;
        let factor = 1u64 << crashes.saturating_sub(1).min(20);
        Duration::from_millis(s.backoff_initial_ms.saturating_mul(factor).min(s.backoff_max_ms))
    }

    /// Counts a crash of a slot's dyno that ran for `ran_ms`, and schedules its restart.
    fn count_crash(&self, sup: &mut Supervision, app_id: &str, name: &str, release: i32, ran_ms: i64) {
        let slot = sup.slots.entry((app_id.to_string(), name.to_string())).or_default();
        // A new release, or a dyno that stayed up longer than the longest delay, starts the
        // backoff afresh.
        if slot.release != release || ran_ms >= self.inner.settings.backoff_max_ms as i64 {
            slot.crashes = 0;
            slot.release = release;
        }
        slot.crashes += 1;
        let delay = self.backoff(slot.crashes);
        slot.not_before = Some(Instant::now() + delay);
        let crashes = slot.crashes;
        self.log(
            app_id,
            "broker",
            name,
            format!(
                "State changed to crashed; restart {crashes} in {} ms",
                delay.as_millis()
            ),
        );
    }

    /// One comparison of what runs with what should, and the actions it calls for.
    pub async fn tick(&self) -> Result<()> {
        let rt = self.runtime()?.clone();
        let list = rt.list().await.map_err(runtime_err)?;
        let desired = self
            .load_desired(list.iter().map(|c| label(c, "app").to_string()).collect())
            .await?;
        let mut sup = self.inner.supervision.lock().await;
        // Containers may have changed while the store was read; decide on a fresh list.
        let list = rt.list().await.map_err(runtime_err)?;
        self.collect_logs(&mut sup, &list).await;
        self.check_up(&mut sup, &list).await;
        let now = now_ms();
        let known: HashSet<&str> = desired.iter().map(|d| d.app.id.as_str()).collect();
        let mut remove: Vec<String> = Vec::new();
        // Containers of deleted apps, expired one-offs, and old one-offs.
        for c in &list {
            let kind = label(c, "kind");
            if !known.contains(label(c, "app")) && kind != "release" {
                if c.running() {
                    self.stop_in_background(&mut sup, c, "app deleted");
                } else {
                    remove.push(c.id.clone());
                }
            } else if kind == "release" {
                // The build waits for its release phase; one whose build is gone (a broker
                // restart, an error) is cleaned up here.
                let limit = (self.inner.settings.release_phase_timeout_ms + self.inner.settings.stop_grace_ms) as i64;
                match exit_of(c) {
                    None if now - c.started_at_ms > limit => {
                        self.stop_in_background(&mut sup, c, "release phase timed out")
                    }
                    Some(e) if now - e.at_ms > 60_000 => remove.push(c.id.clone()),
                    _ => {}
                }
            } else if kind == "run" {
                let ttl: i64 = label(c, "ttl_ms").parse().unwrap_or(3_600_000);
                match exit_of(c) {
                    None if now - c.started_at_ms > ttl => self.stop_in_background(&mut sup, c, "time to live reached"),
                    Some(e) if now - e.at_ms > self.inner.settings.one_off_retention_ms as i64 => {
                        remove.push(c.id.clone())
                    }
                    _ => {}
                }
            }
        }
        for d in &desired {
            self.reconcile_app(&mut sup, d, &list, &mut remove).await;
        }
        for id in remove {
            let _ = rt.remove(&id).await;
            sup.up.remove(&id);
            sup.crash_counted.remove(&id);
            sup.first_seen.remove(&id);
        }
        Ok(())
    }

    async fn reconcile_app(
        &self,
        sup: &mut Supervision,
        d: &Desired,
        list: &[ContainerStatus],
        remove: &mut Vec<String>,
    ) {
        let mine: Vec<&ContainerStatus> = list
            .iter()
            .filter(|c| label(c, "app") == d.app.id && label(c, "kind") == "formation")
            .collect();
        // The slots the formation wants: name → (formation row, command).
        let mut wanted: BTreeMap<String, (&Formation, String)> = BTreeMap::new();
        if let Some((_, types)) = &d.release {
            for f in &d.formation {
                if let Some(cmd) = types.get(&f.process_type) {
                    for n in 1..=f.quantity {
                        wanted.insert(format!("{}.{n}", f.process_type), (f, cmd.clone()));
                    }
                }
            }
        }
        // Extra dynos: their slot is not wanted any more.
        for c in &mine {
            if !wanted.contains_key(label(c, "dyno")) {
                if c.running() {
                    self.stop_in_background(sup, c, "scaled down");
                } else {
                    remove.push(c.id.clone());
                }
            }
        }
        let Some((release, _)) = &d.release else { return };
        let age = now_ms() - release.created_at;
        let debounce = self.inner.settings.restart_debounce_ms as i64;
        let settled = age >= debounce;
        if !settled {
            sup.wake_by(Instant::now() + Duration::from_millis((debounce - age) as u64));
        }
        let mut in_flight = false;
        let mut outdated: Vec<String> = Vec::new();
        let mut slots: Vec<(&String, &(&Formation, String))> = wanted.iter().collect();
        slots.sort_by_key(|(name, _)| dyno_order(name));
        for (name, (f, command)) in slots {
            let matches = |c: &ContainerStatus| {
                release_of(c) == release.version && label(c, "size") == f.size && c.command == *command
            };
            let mut cs: Vec<&ContainerStatus> = mine.iter().copied().filter(|c| label(c, "dyno") == name).collect();
            cs.sort_by_key(|c| std::cmp::Reverse(c.started_at_ms));
            let live: Vec<&ContainerStatus> = cs
                .iter()
                .copied()
                .filter(|c| c.running() && !sup.stopping.contains(&c.id))
                .collect();
            // Exited containers other than the newest are history: forget them.
            for c in cs.iter().filter(|c| !c.running()).skip(1) {
                remove.push(c.id.clone());
            }
            // The newest container of the slot ended by itself: a crash (also when it was a
            // replacement that died before it came up), counted once.
            if let Some(last) = cs.first() {
                if let Some(e) = exit_of(last) {
                    if !e.stopped && sup.crash_counted.insert(last.id.clone()) {
                        let why = if e.oom_killed {
                            "Error R15 (Memory quota vastly exceeded): killed by the kernel".to_string()
                        } else {
                            format!(
                                "Process exited with status {}",
                                e.code.map_or("unknown (killed)".into(), |c| c.to_string())
                            )
                        };
                        self.log(&d.app.id, "broker", name, why);
                        let ran = e.at_ms - last.started_at_ms;
                        self.count_crash(sup, &d.app.id, name, release_of(last), ran);
                    }
                }
            }
            match live.as_slice() {
                [] => {
                    if cs.iter().any(|c| c.running()) {
                        continue; // being stopped (restart): start again once it is gone
                    }
                    let key = (d.app.id.clone(), name.clone());
                    let slot = sup.slots.entry(key).or_default();
                    if slot.release != release.version {
                        // A new release resets the backoff.
                        slot.release = release.version;
                        slot.crashes = 0;
                        slot.not_before = None;
                    }
                    if let Some(t) = slot.not_before.filter(|t| Instant::now() < *t) {
                        sup.wake_by(t);
                        continue;
                    }
                    if let Err(e) = self.start_slot(sup, d, f, name, command).await {
                        warn!(app = %d.app.id, dyno = %name, error = %e, "starting a dyno failed");
                        self.log(
                            &d.app.id,
                            "broker",
                            name,
                            format!("Starting failed: {}", e.public_message()),
                        );
                        let slot = sup.slots.entry((d.app.id.clone(), name.clone())).or_default();
                        slot.not_before = Some(Instant::now() + self.backoff(slot.crashes.max(1)));
                    } else {
                        for c in cs.iter().filter(|c| !c.running()) {
                            remove.push(c.id.clone());
                        }
                    }
                }
                [only] => {
                    if !matches(only) {
                        outdated.push(name.clone());
                    }
                }
                many => {
                    // A replacement next to the dyno it replaces, or duplicates adopted after a
                    // restart: keep the best, retire the others once it is up.
                    let best = many
                        .iter()
                        .copied()
                        .max_by_key(|c| (matches(c), sup.up.contains_key(&c.id), c.started_at_ms))
                        .cloned();
                    let Some(best) = best else { continue };
                    if sup.up.contains_key(&best.id) {
                        for c in many.iter().filter(|c| c.id != best.id) {
                            self.stop_in_background(sup, c, "replaced");
                        }
                    } else {
                        in_flight = true;
                    }
                }
            }
        }
        // Roll one outdated dyno at a time, once the release has settled.
        if in_flight || !settled {
            return;
        }
        let ready = |name: &String| {
            sup.slots.get(&(d.app.id.clone(), name.clone())).is_none_or(|slot| {
                slot.release != release.version || slot.not_before.is_none_or(|t| Instant::now() >= t)
            })
        };
        if let Some(name) = outdated.iter().find(|name| ready(name)) {
            if let Some((f, command)) = wanted.get(name) {
                let (f, command) = (*f, command.clone());
                if let Err(e) = self.start_slot(sup, d, f, name, &command).await {
                    warn!(app = %d.app.id, dyno = %name, error = %e, "starting a replacement failed");
                }
            }
        }
    }

    /// Runs the supervision loop until `shutdown` resolves; then, with
    /// `runtime.stop_on_shutdown`, stops every dyno.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        if self.inner.runtime.is_none() {
            shutdown.await;
            return;
        }
        match self.fail_interrupted_builds().await {
            Ok(n) if n > 0 => info!(builds = n, "marked builds interrupted by a restart as failed"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "checking interrupted builds"),
        }
        let every = Duration::from_millis(self.inner.settings.tick_ms.max(10));
        tokio::pin!(shutdown);
        let mut next_gc = Instant::now();
        loop {
            if Instant::now() >= next_gc {
                next_gc = Instant::now() + SLUG_GC_EVERY;
                match self.collect_slugs().await {
                    Ok(n) if n > 0 => info!(slugs = n, "removed slug directories of deleted apps"),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "collecting slugs"),
                }
            }
            if let Err(e) = self.tick().await {
                warn!(error = %e, "dyno supervision");
            }
            let next = {
                let mut sup = self.inner.supervision.lock().await;
                let due = sup
                    .wake_at
                    .take()
                    .map_or(every, |t| t.saturating_duration_since(Instant::now()));
                due.min(every)
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(next) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
        if self.inner.settings.stop_on_shutdown {
            self.stop_everything().await;
        }
    }

    /// Stops every container of this runtime (for `broker dev` and tests).
    pub async fn stop_everything(&self) {
        let Ok(rt) = self.runtime() else { return };
        let Ok(list) = rt.list().await else { return };
        let grace = self.grace();
        let stops = list.iter().filter(|c| c.running()).map(|c| rt.stop(&c.id, grace));
        futures::future::join_all(stops).await;
    }
}

/// The current release's process types (empty before the first build).
fn current_types(c: &mut DbConnection, app_id: &str) -> Result<ProcessTypes> {
    let Some(sid) = latest_release(c, app_id)?.and_then(|r| r.slug_id) else {
        return Ok(ProcessTypes::new());
    };
    let s: Option<Slug> = slugs::table.find(&sid).select(Slug::as_select()).first(c).optional()?;
    Ok(s.map(|s| process_types_of(&s)).unwrap_or_default())
}

/// Makes the formation follow a new slug's process types: new types get a row (`web` one
/// dyno, others none, as on Heroku), vanished types lose theirs.
fn sync_formation(c: &mut DbConnection, app_id: &str, types: &ProcessTypes) -> Result<()> {
    let rows: Vec<Formation> = formations::table
        .filter(formations::app_id.eq(app_id))
        .select(Formation::as_select())
        .load(c)?;
    for f in &rows {
        if !types.contains_key(&f.process_type) {
            diesel::delete(formations::table.find(&f.id)).execute(c)?;
        }
    }
    let now = now_ms();
    for t in types.keys().filter(|t| *t != "release") {
        if rows.iter().any(|f| f.process_type == *t) {
            continue;
        }
        diesel::insert_into(formations::table)
            .values(&Formation {
                id: uuid::Uuid::new_v4().to_string(),
                app_id: app_id.to_string(),
                process_type: t.clone(),
                quantity: i32::from(t == "web"),
                size: SIZES[0].name.into(),
                created_at: now,
                updated_at: now,
            })
            .execute(c)?;
    }
    Ok(())
}

async fn audit_async(
    db: &Db,
    actor: &Actor,
    action: &'static str,
    app_id: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let (meta, target) = (actor.meta(), format!("app/{app_id}"));
    db.write(move |c| audit(c, &meta, action, target.clone(), detail.clone()))
        .await
}
