//! Processes of the ephemeral servers: free ports, the scratch directory, the service
//! account, reapers, and starting and stopping a server process.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::internal("finding a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::internal("finding a free port", e))
}

/// Where ephemeral clusters live: `$ADDON_BROKER_SCRATCH`, else `/dev/shm` when it is a
/// writable directory (RAM: every `CREATE DATABASE` copies a template, which on a slow disk
/// dominates and blurs every timing), else the system temp directory.
pub fn scratch_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ADDON_BROKER_SCRATCH") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    let writable = shm.is_dir()
        && tempfile::Builder::new()
            .prefix(".addon-broker-probe-")
            .tempfile_in(shm)
            .is_ok();
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The unprivileged account to run servers as when we are root (PostgreSQL refuses root).
pub(super) fn service_account() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("postgres").ok().flatten()?;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

pub(super) fn chown_tree(path: &Path, ids: Option<(u32, u32)>) -> Result<()> {
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| Error::internal(format!("chown {}", path.display()), e))?;
    }
    Ok(())
}

/// Starts a process that stops `pid` (with `signal`) and removes `dir` once this process exits
/// (pass an empty `dir` to remove nothing).
pub fn spawn_reaper(pid: u32, signal: &str, dir: &Path) -> Result<Reaper> {
    let script = format!(
        "while kill -0 {owner} 2>/dev/null; do sleep 1; done; kill -{signal} {pid} 2>/dev/null; \
         for i in $(seq 1 50); do kill -0 {pid} 2>/dev/null || break; sleep 0.2; done; \
         kill -KILL {pid} 2>/dev/null; {cleanup}",
        owner = std::process::id(),
        cleanup = if dir.as_os_str().is_empty() {
            "true".to_string()
        } else {
            format!("rm -rf '{}'", dir.display())
        }
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(|child| Reaper { pid: child.id() })
        .map_err(|e| Error::internal("starting the reaper", e))
}

/// A running reaper. Dismiss it once its server is stopped, so that it never signals a process
/// id that the system may since have given to another process.
#[derive(Debug)]
pub struct Reaper {
    pid: u32,
}

impl Reaper {
    /// Stops the reaper (its whole process group) without it touching anything.
    pub fn dismiss(self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Waits until `port` accepts connections or `child` exits.
pub(super) fn wait_for_port(child: &mut Child, port: u16, log: &Path, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Internal(format!(
                "{what} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(Error::Internal(format!("{what} did not listen within 30 s")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Starts a server that takes its port on the command line: picks a free port, spawns
/// `command(port)` in its own process group with a reaper, and waits for the port to accept
/// connections; tries five ports before giving up (another process may take a free port first).
pub(super) fn start_on_free_port(
    dir: &Path,
    log: &Path,
    what: &str,
    command: impl Fn(u16) -> Result<Command>,
) -> Result<(Child, u16, Reaper)> {
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        let mut child = command(port)?
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::internal(format!("starting {what}"), e))?;
        let reaper = spawn_reaper(child.id(), "TERM", dir)?;
        match wait_for_port(&mut child, port, log, what) {
            Ok(()) => return Ok((child, port, reaper)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                reaper.dismiss();
                last_error = e.to_string();
            }
        }
    }
    Err(Error::Internal(last_error))
}

pub(super) fn stop_child(child: &mut Option<Child>, signal: nix::sys::signal::Signal) {
    if let Some(mut child) = child.take() {
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, signal);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
