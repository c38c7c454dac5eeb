//! The local container backend: bubblewrap for namespaces and mounts, cgroups for limits.
//!
//! Each container is a directory `<root>/<id>/` holding `meta.json` (spec without the
//! environment), `app/` (the container's writable copy of the app), `output.log` (its stdout
//! and stderr), `exit` (the exit code, once it ended) and `stopped` (present when [`stop`] ended
//! it). The process tree is
//!
//! ```text
//! /bin/sh (host: joins the container's cgroups, waits, writes `exit`)
//!   └─ pasta (host, as the dyno user: the container's network namespace and its ports)
//!        └─ bwrap ── bwrap init (PID 1 of the container) ── /bin/sh -c <command> (PID 2)
//! ```
//!
//! (without pasta, with `runtime.network = "host"`, the wrapper runs bwrap itself).
//!
//! Nothing of it depends on the broker staying alive: output goes to a file and the exit code
//! is written by the wrapper, so a restarted broker finds every container in [`list`] with its
//! real state and adopts it. A container runs while its memory cgroup holds a process.
//!
//! [`stop`]: crate::Runtime::stop
//! [`list`]: crate::Runtime::list

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::attach::{inner_procs, signal_all, take, HostNamespaces, Plumbing, Sessions, SPAWNING};
use crate::cgroup::Cgroups;
use crate::host::{check_traversable, chown_tree, copy_tree, io, resolve, HOST_PATH};
use crate::network::{listens_in, LocalNetwork};
use crate::sandbox::Launcher;
use crate::starting::{self, Starting};
use crate::{
    valid_id, Attachment, ContainerSpec, ContainerStatus, Endpoint, Exit, Limits, Mount, Output, Result, Runtime,
    RuntimeError, State,
};

/// The wrapper run by `/bin/sh -c`: `$1` is the exit file, then the cgroup.procs files up to
/// `--`, then the bwrap command line. It enters the cgroups before anything else runs, so every
/// process of the container is counted and limited from its first instruction.
const WRAPPER: &str = r#"out=$1; shift
while [ "$1" != "--" ]; do echo $$ > "$1" || exit 125; shift; done
shift
"$@"
echo $? > "$out""#;

/// Settings of the local backend.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Directory holding one sub-directory per container.
    pub root: PathBuf,
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
    /// Name of the cgroup (under the broker's own) that holds the containers' groups.
    pub cgroup_parent: String,
    /// Host uid and gid the commands run as; `None` keeps the broker's. A root broker should
    /// never run tenants' code as root: see [`LocalConfig::default_user`].
    pub run_as: Option<(u32, u32)>,
    /// Each container in a network of its own (the default), or all in the host's.
    pub network: LocalNetwork,
}

impl LocalConfig {
    /// `nobody` (65534) when the broker runs as root, else the broker's own user.
    pub fn default_user() -> Option<(u32, u32)> {
        nix::unistd::geteuid().is_root().then_some((65534, 65534))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    id: String,
    labels: BTreeMap<String, String>,
    command: String,
    hostname: String,
    limits: Limits,
    started_at_ms: i64,
}

/// Runs containers on this machine with bubblewrap inside cgroups.
pub struct LocalRuntime {
    config: LocalConfig,
    launcher: Launcher,
    cgroups: Cgroups,
    host_ns: HostNamespaces,
    sessions: Sessions,
    /// Whether endpoints are made inside the containers' network namespaces.
    enter_namespaces: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl LocalRuntime {
    /// Prepares the root directory and the cgroups; fails with the reason when this host cannot
    /// run containers (no bubblewrap, cgroups not writable).
    pub fn new(config: LocalConfig) -> Result<LocalRuntime> {
        fs::create_dir_all(&config.root).map_err(|e| io("creating", &config.root, e))?;
        // The dyno user must be able to reach the containers' app directories (not list them).
        fs::set_permissions(&config.root, std::os::unix::fs::PermissionsExt::from_mode(0o711))
            .map_err(|e| io("setting the mode of", &config.root, e))?;
        if config.run_as.is_some() {
            check_traversable(&config.root)?;
        }
        let bwrap = resolve(&config.bwrap, "bubblewrap")?;
        let probe = std::process::Command::new(&bwrap)
            .arg("--version")
            .output()
            .map_err(|e| {
                RuntimeError::Host(format!(
                    "bubblewrap ({}) cannot run: {e}; install the bubblewrap package",
                    config.bwrap.display()
                ))
            })?;
        if !probe.status.success() {
            return Err(RuntimeError::Host(format!(
                "{} --version failed",
                config.bwrap.display()
            )));
        }
        let pasta = match &config.network {
            LocalNetwork::Host => None,
            LocalNetwork::Isolated { pasta, .. } => Some(resolve(pasta, "passt")?),
        };
        let enter_namespaces = matches!(
            config.network,
            LocalNetwork::Isolated {
                enter_namespaces: true,
                ..
            }
        ) && crate::endpoint::can_enter_namespaces();
        let mut launcher = Launcher {
            bwrap,
            pasta,
            pasta_options: Vec::new(),
            run_as: config.run_as,
        };
        if let Some(pasta) = &launcher.pasta {
            launcher.pasta_options = crate::network::probe(pasta, &launcher.privileges())?;
        }
        let cgroups = Cgroups::detect(&config.cgroup_parent)?;
        let host_ns = HostNamespaces::own(launcher.pasta.is_some());
        Ok(LocalRuntime {
            launcher,
            config,
            cgroups,
            host_ns,
            sessions: Sessions::default(),
            enter_namespaces,
        })
    }

    /// The limits its cgroups get: the container's, and pasta's own memory on top (it lives
    /// in the container's cgroup, so that it is counted and ends with it, but it is the
    /// platform's, not the app's).
    fn charged(&self, limits: Limits) -> Limits {
        let extra = if self.launcher.pasta.is_some() {
            crate::network::PASTA_MEMORY
        } else {
            0
        };
        Limits {
            memory_bytes: limits.memory_bytes.saturating_add(extra),
            ..limits
        }
    }

    /// The cgroups the containers live in.
    pub fn cgroups(&self) -> &Cgroups {
        &self.cgroups
    }

    fn dir(&self, id: &str) -> Result<PathBuf> {
        if !valid_id(id) {
            return Err(RuntimeError::Invalid(format!("bad container id {id:?}")));
        }
        Ok(self.config.root.join(id))
    }

    fn meta(&self, id: &str) -> Result<Meta> {
        let path = self.dir(id)?.join("meta.json");
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RuntimeError::NotFound(id.into())),
            Err(e) => return Err(io("reading", &path, e)),
        };
        serde_json::from_slice(&text).map_err(|e| RuntimeError::Host(format!("{}: {e}", path.display())))
    }

    fn status_of(&self, meta: Meta) -> ContainerStatus {
        let dir = self.config.root.join(&meta.id);
        let state = if !self.cgroups.procs(&meta.id).is_empty() || starting::under_way(&dir) {
            State::Running
        } else {
            let exit = dir.join("exit");
            let code = fs::read_to_string(&exit).ok().and_then(|t| t.trim().parse().ok());
            let at_ms = fs::metadata(&exit)
                .or_else(|_| fs::metadata(dir.join("meta.json")))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or_else(now_ms, |d| d.as_millis() as i64);
            State::Exited(Exit {
                code,
                oom_killed: self.cgroups.oom_killed(&meta.id),
                stopped: dir.join("stopped").exists(),
                at_ms,
            })
        };
        ContainerStatus {
            id: meta.id,
            labels: meta.labels,
            command: meta.command,
            started_at_ms: meta.started_at_ms,
            state,
        }
    }

    /// Processes of the container that live inside its PID namespace (the command and its
    /// children, and the namespace's init, which ignores signals it has no handler for).
    fn inner_procs(&self, id: &str) -> Vec<i32> {
        inner_procs(&self.cgroups, &self.host_ns, id)
    }

    /// SIGKILLs every process of every container under this runtime's cgroup parent, without
    /// touching the files: for test harnesses and `broker dev` tearing a machine down.
    pub fn kill_everything(&self) {
        let Ok(entries) = fs::read_dir(&self.config.root) else {
            return;
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().to_string();
            for _ in 0..100 {
                let procs = self.cgroups.procs(&id);
                if procs.is_empty() {
                    break;
                }
                for pid in procs {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.cgroups.remove(&id);
        }
    }

    /// Gives the container its files: a copy of the app (or the app directory itself, made the
    /// container user's, with `share_app`) and its writable mounts made the container user's.
    /// Returns the directory to bind at `/app`.
    async fn prepare_files(&self, spec: &ContainerSpec, dir: &Path) -> Result<PathBuf> {
        for m in &spec.mounts {
            if !Mount::valid_target(&m.target) {
                return Err(RuntimeError::Invalid(format!("bad mount target {:?}", m.target)));
            }
            if !m.source.is_dir() {
                return Err(RuntimeError::Invalid(format!(
                    "mount source {} is not a directory",
                    m.source.display()
                )));
            }
        }
        let owner = self.config.run_as;
        let app = if spec.share_app {
            spec.app_source.clone()
        } else {
            dir.join("app")
        };
        let (src, dst, share) = (spec.app_source.clone(), app.clone(), spec.share_app);
        let writable: Vec<PathBuf> = spec
            .mounts
            .iter()
            .filter(|m| m.writable)
            .map(|m| m.source.clone())
            .collect();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if !share {
                copy_tree(&src, &dst, owner)?;
            }
            if let Some((uid, gid)) = owner {
                // The shared app is fresh (no container has seen it): all of it. A writable
                // mount may hold what earlier containers wrote and a running one can change
                // (a build cache): only its root, never a walk that a swapped-in symlink could
                // lead onto the host's files.
                if share {
                    chown_tree(&dst, (uid, gid))?;
                }
                for d in &writable {
                    std::os::unix::fs::lchown(d, Some(uid), Some(gid))?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| RuntimeError::Host(format!("preparing the app's files: {e}")))?
        .map_err(|e| io("preparing the files of", &app, e))?;
        Ok(app)
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn start(&self, spec: ContainerSpec) -> Result<ContainerStatus> {
        let dir = self.dir(&spec.id)?;
        if spec.command.trim().is_empty() {
            return Err(RuntimeError::Invalid("empty command".into()));
        }
        if spec.command.contains('\0') {
            return Err(RuntimeError::Invalid("the command contains a NUL byte".into()));
        }
        for (k, v) in &spec.env {
            if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
                return Err(RuntimeError::Invalid(format!(
                    "environment variable {k:?} cannot be passed to a process (empty, '=' or NUL)"
                )));
            }
        }
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o711))
                    .map_err(|e| io("setting the mode of", &dir, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::Invalid(format!("container {} exists", spec.id)))
            }
            Err(e) => return Err(io("creating", &dir, e)),
        }
        let app = self.prepare_files(&spec, &dir).await?;
        let meta = Meta {
            id: spec.id.clone(),
            labels: spec.labels.clone(),
            command: spec.command.clone(),
            hostname: spec.hostname.clone(),
            limits: spec.limits,
            started_at_ms: now_ms(),
        };
        let _starting = Starting::mark(&dir).map_err(|e| io("writing to", &dir, e))?;
        let meta_path = dir.join("meta.json");
        let tmp = dir.join("meta.json.tmp");
        let text = serde_json::to_vec(&meta).map_err(|e| RuntimeError::Host(e.to_string()))?;
        fs::write(&tmp, text)
            .and_then(|()| fs::rename(&tmp, &meta_path))
            .map_err(|e| io("writing", &meta_path, e))?;
        let procs_files = self.cgroups.create(&spec.id, self.charged(spec.limits))?;
        let out_path = dir.join("output.log");
        let mut options = fs::OpenOptions::new();
        options.create(true).append(true);
        // The output may hold whatever the app prints, secrets included: the broker's only.
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let out = options.open(&out_path).map_err(|e| io("opening", &out_path, e))?;
        let plumbing = Plumbing::new(&spec.io)?;
        let (stdout, stderr) = match &plumbing {
            Some(p) => p.child_stdio()?,
            None => {
                let err = out.try_clone().map_err(|e| io("opening", &out_path, e))?;
                (
                    Stdio::from(out.try_clone().map_err(|e| io("opening", &out_path, e))?),
                    Stdio::from(err),
                )
            }
        };
        let tty = plumbing.as_ref().is_some_and(Plumbing::tty);
        let wrapper = WRAPPER;
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(wrapper)
            .arg("dyno-wrapper")
            .arg(dir.join("exit"))
            .args(&procs_files)
            .arg("--")
            .args(self.launcher.command_line(&spec, &app, tty))
            .env_clear()
            .env("PATH", HOST_PATH)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(false);
        let spawned = {
            let _spawning = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
            cmd.spawn()
        };
        let mut child = spawned.map_err(|e| RuntimeError::Host(format!("spawning container {}: {e}", spec.id)))?;
        // The command holds the container's end of the plumbing: drop it, so that only the
        // container does.
        drop(cmd);
        if let Some(p) = plumbing {
            let (cgroups, ns, id) = (self.cgroups.clone(), self.host_ns.clone(), spec.id.clone());
            let signal = Box::new(move |s| signal_all(&inner_procs(&cgroups, &ns, &id), s));
            let attachment = p.start(out, signal)?;
            if let Ok(mut map) = self.sessions.lock() {
                map.insert(spec.id.clone(), Some(attachment));
            }
        }
        if let Some(mut stdin) = child.stdin.take() {
            let mut args = Vec::new();
            for (k, v) in &spec.env {
                for part in ["--setenv", k.as_str(), v.as_str()] {
                    args.extend_from_slice(part.as_bytes());
                    args.push(0);
                }
            }
            use tokio::io::AsyncWriteExt;
            // A wrapper that died early closes the pipe; its exit is reported below.
            let _ = stdin.write_all(&args).await;
        }
        // Wait until the wrapper is in its cgroup (so `status` says running), or has ended.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if !self.cgroups.procs(&spec.id).is_empty() {
                break;
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(RuntimeError::Host(format!("container {} did not start", spec.id)));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Reap the wrapper when it ends; its exit code is in the `exit` file, not here.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(self.status_of(meta))
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<ContainerStatus> {
        let meta = self.meta(id)?;
        let dir = self.dir(id)?;
        if self.cgroups.procs(id).is_empty() {
            return Ok(self.status_of(meta));
        }
        fs::write(dir.join("stopped"), b"").map_err(|e| io("writing", &dir, e))?;
        for pid in self.inner_procs(id) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !self.cgroups.procs(id).is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Grace is over: kill everything, the wrapper included, until the group is empty.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let procs = self.cgroups.procs(id);
            if procs.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(RuntimeError::Host(format!("container {id} survives SIGKILL")));
            }
            for pid in procs {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(self.status_of(meta))
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        let meta = self.meta(id)?;
        Ok(self.status_of(meta))
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>> {
        let entries = fs::read_dir(&self.config.root).map_err(|e| io("reading", &self.config.root, e))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().to_string();
            if !valid_id(&id) {
                continue;
            }
            // A directory without meta.json is a start that never got going: skip it.
            if let Ok(meta) = self.meta(&id) {
                out.push(self.status_of(meta));
            }
        }
        out.sort_by(|a, b| a.started_at_ms.cmp(&b.started_at_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn output(&self, id: &str, offset: u64, max: usize) -> Result<Output> {
        let path = self.dir(id)?.join("output.log");
        let mut file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RuntimeError::NotFound(id.into())),
            Err(e) => return Err(io("opening", &path, e)),
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io("reading", &path, e))?;
        let mut bytes = Vec::new();
        file.take(max as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| io("reading", &path, e))?;
        Ok(Output {
            next_offset: offset + bytes.len() as u64,
            bytes,
        })
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id)?;
        if !self.cgroups.procs(id).is_empty() {
            return Err(RuntimeError::Invalid(format!("container {id} is running")));
        }
        self.cgroups.remove(id)?;
        if let Ok(mut map) = self.sessions.lock() {
            map.remove(id);
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("removing", &dir, e)),
        }
    }

    async fn attach(&self, id: &str) -> Result<Attachment> {
        self.meta(id)?;
        take(&self.sessions, id)
    }

    async fn listening(&self, id: &str, port: u16) -> bool {
        if self.launcher.pasta.is_none() {
            let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
            return matches!(
                tokio::time::timeout(Duration::from_millis(200), connect).await,
                Ok(Ok(_))
            );
        }
        // Any process inside the container's PID namespace is inside its network namespace.
        self.inner_procs(id).first().is_some_and(|pid| listens_in(*pid, port))
    }

    async fn endpoint(&self, id: &str, port: u16) -> Endpoint {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if !self.enter_namespaces {
            return Endpoint::tcp(addr);
        }
        let netns = self
            .inner_procs(id)
            .first()
            .and_then(|pid| fs::File::open(format!("/proc/{pid}/ns/net")).ok());
        match netns {
            Some(ns) => Endpoint::in_namespace(ns.into(), addr),
            // Gone already: the forward refuses as the namespace would.
            None => Endpoint::tcp(addr),
        }
    }
}
