//! The dyno runtime contract, and its local container backend.
//!
//! The broker decides *what* runs (which release, how many dynos of each process type, when to
//! restart); a [`Runtime`] only runs containers. The contract is deliberately small and
//! label-based so that other backends fit it without changes to the broker:
//!
//! - a container is started from a [`ContainerSpec`]: an id chosen by the caller, labels, a
//!   command, an environment, the app's files and [`Limits`];
//! - [`Runtime::list`] returns every container the backend knows with its labels, so a
//!   restarted broker rebuilds its view from the backend (adopting what runs) instead of from
//!   memory. A Docker backend maps labels to container labels and the id to the container name;
//!   a Kubernetes backend maps them to pod labels, with the environment in a Secret;
//! - output is an append-only byte stream per container, read by offset ([`Runtime::output`]);
//! - a container started with [`ContainerIo::Interactive`] is also attachable once
//!   ([`Runtime::attach`]): an output stream, an input sink and controls (resize, signal, end of
//!   input), the shape of `docker attach` (with `Tty`, the resize API and `kill`) and of a
//!   Kubernetes pod attach (stdin/stdout channels and the resize channel).
//!
//! - a container's network is a [`NetworkPolicy`]: the ports it serves to the platform, the
//!   host services it reaches (its add-ons), and whether it has egress. A Docker backend maps
//!   it to a network of its own and published ports, a Kubernetes backend to a NetworkPolicy.
//!
//! [`local::LocalRuntime`] runs each container with bubblewrap (PID, mount, UTS and IPC
//! namespaces, a read-only view of the host's system directories, a private `/tmp`) inside
//! cgroups that cap its memory and process count, in a network namespace of its own made by
//! pasta ([`network`]).

pub mod attach;
pub mod cgroup;
pub mod endpoint;
mod host;
pub mod local;
pub mod network;
mod sandbox;
mod starting;

pub use attach::{Attachment, ContainerIo, Input, Signal, TermSize};
pub use endpoint::Endpoint;
pub use network::NetworkPolicy;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What can go wrong in a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The spec or request is not acceptable (bad id, unknown container).
    #[error("{0}")]
    Invalid(String),
    /// No container with this id.
    #[error("no container {0}")]
    NotFound(String),
    /// The container is in a state that refuses the request (already attached).
    #[error("{0}")]
    Conflict(String),
    /// The host could not do it (spawn failed, cgroup not writable, disk full…).
    #[error("{0}")]
    Host(String),
}

/// Result of runtime calls.
pub type Result<T> = std::result::Result<T, RuntimeError>;

/// Kernel-enforced limits of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory (RAM, no swap) in bytes, including the container's `/tmp`.
    pub memory_bytes: u64,
    /// Processes and threads at once.
    pub max_processes: u64,
}

/// A host directory bound into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The directory on the host. A read-only one must be readable by the container user; a
    /// writable one is made the container user's (its root; what lies inside must be readable
    /// or the container's own).
    pub source: PathBuf,
    /// Where the container sees it: an absolute path of plain components outside the system
    /// directories and `/app` (`/cache`, `/buildpacks/1`).
    pub target: String,
    /// Whether the container may write to it.
    pub writable: bool,
}

impl Mount {
    /// True when `target` is acceptable: absolute, plain components, not a system directory,
    /// `/app`, `/tmp`, `/dev` or `/proc`, nor under them.
    pub fn valid_target(target: &str) -> bool {
        let Some(rest) = target.strip_prefix('/') else {
            return false;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let plain = parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
        const RESERVED: [&str; 13] = [
            "app", "usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "tmp", "dev", "proc", "sys", "run",
        ];
        plain && !RESERVED.contains(&parts[0])
    }
}

/// Everything needed to start a container.
#[derive(Clone, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Caller-chosen id, unique per runtime: `[a-z0-9-]{1,64}`.
    pub id: String,
    /// Free-form labels returned by [`Runtime::list`] (app, dyno name, release…).
    pub labels: BTreeMap<String, String>,
    /// Host name inside the container.
    pub hostname: String,
    /// A shell command line, run by `/bin/sh -c` in the app directory after the app's
    /// `/app/.profile.d/*.sh` scripts are sourced (Heroku's contract: buildpacks put `PATH`
    /// and the like there).
    pub command: String,
    /// The complete environment of the command (nothing is inherited from the host).
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// The app's files; the container gets its own writable copy at `/app`, or with
    /// `share_app` the directory itself.
    pub app_source: PathBuf,
    /// Binds `app_source` itself at `/app` (made the container user's) instead of a copy, so
    /// that what the container writes there stays: a build compiles its slug in place.
    #[serde(default)]
    pub share_app: bool,
    /// More host directories the container sees (a build's buildpacks and cache).
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Memory and process limits.
    pub limits: Limits,
    /// How its standard streams are connected: to its output log, or to an attachment.
    #[serde(default)]
    pub io: ContainerIo,
    /// What it reaches on the network and what reaches it.
    #[serde(default)]
    pub network: NetworkPolicy,
}

impl std::fmt::Debug for ContainerSpec {
    // The environment carries credentials: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerSpec")
            .field("id", &self.id)
            .field("labels", &self.labels)
            .field("command", &self.command)
            .field("env", &format_args!("<{} variables>", self.env.len()))
            .field("limits", &self.limits)
            .field("io", &self.io)
            .field("network", &self.network)
            .finish()
    }
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// Exit code of the command, when it exited by itself.
    pub code: Option<i32>,
    /// True when the kernel's OOM killer ended a process of the container (memory limit).
    pub oom_killed: bool,
    /// True when [`Runtime::stop`] ended it.
    pub stopped: bool,
    /// When the runtime noticed the end (ms since the epoch).
    pub at_ms: i64,
}

/// State of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Its processes run.
    Running,
    /// It ended.
    Exited(Exit),
}

/// A container as the runtime sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// The id from its spec.
    pub id: String,
    /// The labels from its spec.
    pub labels: BTreeMap<String, String>,
    /// The command from its spec.
    pub command: String,
    /// Start time (ms since the epoch).
    pub started_at_ms: i64,
    /// Running or exited.
    pub state: State,
}

impl ContainerStatus {
    /// True while its processes run.
    pub fn running(&self) -> bool {
        matches!(self.state, State::Running)
    }
}

/// A chunk of a container's output.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The bytes from the requested offset (stdout and stderr, interleaved as written).
    pub bytes: Vec<u8>,
    /// Offset to ask for next.
    pub next_offset: u64,
}

/// A container runtime: runs, stops, lists and reads the output of containers.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Short backend name (`local`, `docker`…), for logs and the API.
    fn name(&self) -> &'static str;
    /// Starts a container; returns once its processes run.
    async fn start(&self, spec: ContainerSpec) -> Result<ContainerStatus>;
    /// Stops a container: SIGTERM to its processes, SIGKILL to whatever is left after `grace`.
    /// Returns its final status; stopping an exited container just returns its status.
    async fn stop(&self, id: &str, grace: Duration) -> Result<ContainerStatus>;
    /// One container's status.
    async fn status(&self, id: &str) -> Result<ContainerStatus>;
    /// Every container the backend holds, running or exited, with labels.
    async fn list(&self) -> Result<Vec<ContainerStatus>>;
    /// Output from `offset` on, at most `max` bytes.
    async fn output(&self, id: &str, offset: u64, max: usize) -> Result<Output>;
    /// Forgets an exited container (its files and output); running ones are refused.
    async fn remove(&self, id: &str) -> Result<()>;
    /// Attaches to a container started with [`ContainerIo::Interactive`]: once per container
    /// ([`RuntimeError::Conflict`] after that); [`RuntimeError::Invalid`] for a container that
    /// is not interactive, or no longer attachable (the process that held its terminal ended).
    async fn attach(&self, id: &str) -> Result<Attachment>;
    /// Whether the running container listens on `port` (one of its inbound ports), so that
    /// what the platform sends there is served: the check a web dyno is `up` by.
    async fn listening(&self, id: &str, port: u16) -> bool;
    /// Where the platform connects to the running container's inbound `port` (see
    /// [`Endpoint`]).
    async fn endpoint(&self, id: &str, port: u16) -> Endpoint;
}

/// True when `id` is acceptable as a container id.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::Mount;

    #[test]
    fn mount_targets_stay_out_of_the_system_and_the_app() {
        for ok in ["/cache", "/buildpacks/1", "/env", "/output", "/x-y_z.1"] {
            assert!(Mount::valid_target(ok), "{ok}");
        }
        for bad in [
            "",
            "cache",
            "/",
            "/app",
            "/app/x",
            "/usr",
            "/etc/passwd",
            "/tmp",
            "/proc/1",
            "/dev",
            "/a/../etc",
            "/a/./b",
            "/a//b",
            "/a b",
            "/a;b",
            "/sys",
            "/lib64",
        ] {
            assert!(!Mount::valid_target(bad), "{bad:?}");
        }
    }
}
