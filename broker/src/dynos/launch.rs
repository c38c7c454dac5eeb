//! Starting and stopping containers: dyno sizes, the labels, environment and limits a dyno is
//! started with, waiting for one to end, and stopping one in the background.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use runtime::{ContainerIo, ContainerSpec, ContainerStatus, Limits};
use tracing::warn;

use crate::catalog::clip;
use crate::error::{Error, Result};
use crate::ids::AppId;

use super::containers::{label, runtime_err};
use super::manager::Dynos;
use super::plan::Supervision;

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

/// Largest output shown for a one-off dyno or a release phase.
pub(super) const MAX_OUTPUT: usize = 1 << 20;

/// The size of this name, or a 422 listing the sizes.
pub(super) fn size(name: &str) -> Result<Size> {
    SIZES.iter().copied().find(|s| s.name == name).ok_or_else(|| {
        Error::Unprocessable(format!(
            "unknown dyno size {}; sizes are {}",
            clip(name),
            SIZES.map(|s| s.name).join(", ")
        ))
    })
}

/// A free TCP port on the loopback interface, for a web dyno's `$PORT`.
pub(super) fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::internal("finding a free port", e))
}

/// What a dyno is started with.
pub(super) struct Launch<'a> {
    /// The app (typed, as the dyno name and the slug id are strings too).
    pub(super) app_id: &'a AppId,
    /// `web.1`, `run.3`, `release.7`.
    pub(super) name: &'a str,
    /// `formation`, `run` or `release`.
    pub(super) kind: &'a str,
    pub(super) process_type: &'a str,
    pub(super) release: i32,
    pub(super) size: Size,
    pub(super) command: &'a str,
    pub(super) slug_id: &'a str,
    pub(super) config: BTreeMap<String, String>,
    /// `$PORT`, for web dynos.
    pub(super) port: Option<u16>,
    /// Time to live, for one-off dynos.
    pub(super) ttl_ms: Option<u64>,
    /// One more label (a release phase names the release it runs for).
    pub(super) extra_label: Option<(&'a str, &'a str)>,
    /// Logged, or interactive (one-off dynos only).
    pub(super) io: ContainerIo,
}

impl Dynos {
    /// Starts a dyno's container with its labels, environment and limits.
    pub(super) async fn launch(&self, l: Launch<'_>) -> Result<ContainerStatus> {
        let rt = self.runtime()?;
        let mut labels = BTreeMap::from([
            ("app".to_string(), l.app_id.as_str().to_string()),
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
        if let Some((k, v)) = l.extra_label {
            labels.insert(k.into(), v.into());
        }
        if let ContainerIo::Interactive { tty } = l.io {
            let kind = if tty.is_some() { "tty" } else { "pipe" };
            labels.insert(super::attach::INTERACTIVE.into(), kind.into());
        }
        self.log(
            l.app_id.as_str(),
            "broker",
            l.name,
            format!("Starting process with command `{}`", l.command),
        );
        let network = self.dyno_network(l.app_id.as_str(), l.port).await?;
        rt.start(ContainerSpec {
            id: uuid::Uuid::new_v4().to_string(),
            labels,
            hostname: l.name.to_string(),
            command: l.command.to_string(),
            env: environment(l.config, l.name, l.port),
            app_source: self.inner.slugs_dir.join(l.slug_id),
            share_app: false,
            mounts: Vec::new(),
            limits: Limits {
                memory_bytes: l.size.memory_bytes,
                max_processes: l.size.max_processes,
            },
            io: l.io,
            network,
        })
        .await
        .map_err(runtime_err)
    }

    /// Waits for a container to end; at `deadline` it is stopped (SIGTERM, the grace, SIGKILL).
    pub(super) async fn wait_for_exit(&self, id: &str, deadline: Instant) -> Result<ContainerStatus> {
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

    /// Stops a running container in the background (SIGTERM, then SIGKILL after the grace
    /// period); one already being stopped is left to that stop.
    pub(super) fn stop_in_background(&self, sup: &mut Supervision, c: &ContainerStatus, why: &str) {
        if c.running() {
            self.stop_container(sup, &c.id, label(c, "app"), label(c, "dyno"), why);
        }
    }

    /// Stops a container known to run, unless it is being stopped already.
    pub(super) fn stop_container(&self, sup: &mut Supervision, id: &str, app_id: &str, name: &str, why: &str) {
        if !sup.stopping.insert(id.to_string()) {
            return;
        }
        self.log(
            app_id,
            "broker",
            name,
            format!("Stopping all processes with SIGTERM ({why})"),
        );
        // Out of the router first; SIGTERM only once its requests in flight are done.
        let leaving = self.inner.pool.leave(id);
        let (me, id, app_id, name) = (self.clone(), id.to_string(), app_id.to_string(), name.to_string());
        tokio::spawn(async move {
            if let Some(b) = leaving {
                if !b.drain(me.inner.pool.drain_timeout()).await {
                    let text = format!("{} requests still in flight after the drain timeout", b.inflight());
                    me.log(&app_id, "broker", &name, text);
                }
            }
            if let Ok(rt) = me.runtime() {
                if let Err(e) = rt.stop(&id, me.grace()).await {
                    warn!(container = %id, error = %e, "stopping a dyno failed");
                }
            }
            me.inner.supervision.lock().await.stopping.remove(&id);
            me.inner.wake.notify_one();
        });
    }
}

/// A dyno's environment: its config vars with `PATH` (unless set), `HOME`, `DYNO` and `PORT`.
fn environment(config: BTreeMap<String, String>, dyno: &str, port: Option<u16>) -> BTreeMap<String, String> {
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
