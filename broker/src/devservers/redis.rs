//! The ephemeral Redis server, with ACL users kept in a file.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::process::{scratch_dir, spawn_reaper, start_on_free_port, stop_child, wait_for_port, Reaper};
use crate::error::{Error, Result};

/// Finds `redis-server`: `$REDIS_SERVER`, else the one on `PATH`.
fn redis_server_bin() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("REDIS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin", "/usr/local/bin"])
    {
        let candidate = Path::new(dir).join("redis-server");
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(Error::Internal(
        "redis-server not found: install the redis-server package (scripts/install-deps does) or set REDIS_SERVER"
            .into(),
    ))
}

/// `redis-server` on `port`, without persistence of data, its ACL file and log in `dir`.
fn redis_command(bin: &Path, dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--aclfile")
        .arg(dir.join("users.acl"))
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stderr(Stdio::null());
    cmd
}

/// An ephemeral `redis-server` with ACLs kept in a file: the default user is disabled and an
/// `admin` user with a random password holds every permission. Stopped and removed on drop.
pub struct RedisServer {
    dir: tempfile::TempDir,
    port: u16,
    password: String,
    child: Option<Child>,
    reaper: Option<Reaper>,
}

impl RedisServer {
    /// Starts the server on a free loopback port, without persistence of data.
    pub fn start() -> Result<RedisServer> {
        let bin = redis_server_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("addon-broker-redis-")
            .tempdir_in(scratch_dir())
            .map_err(|e| Error::internal("temp dir", e))?;
        let password = providers::names::random_password(24);
        let acl = dir.path().join("users.acl");
        std::fs::write(
            &acl,
            format!("user default off nopass -@all\nuser admin on >{password} ~* &* +@all\n"),
        )
        .map_err(|e| Error::internal("acl file", e))?;
        let log = dir.path().join("redis.log");
        let (child, port, reaper) = start_on_free_port(dir.path(), &log, "redis-server", |port| {
            Ok(redis_command(&bin, dir.path(), port))
        })?;
        Ok(RedisServer {
            dir,
            port,
            password,
            child: Some(child),
            reaper: Some(reaper),
        })
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin URL.
    pub fn url(&self) -> String {
        format!("redis://admin:{}@127.0.0.1:{}", self.password, self.port)
    }

    /// The ACL file the server persists users to.
    pub fn acl_file(&self) -> PathBuf {
        self.dir.path().join("users.acl")
    }

    /// Starts the stopped server again on its port and ACL file (its keys are gone: it keeps
    /// no data on disk).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let bin = redis_server_bin()?;
        let log = self.dir.path().join("redis.log");
        let mut child = redis_command(&bin, self.dir.path(), self.port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::internal("starting redis-server", e))?;
        let reaper = spawn_reaper(child.id(), "TERM", self.dir.path())?;
        if let Err(e) = wait_for_port(&mut child, self.port, &log, "redis-server") {
            reaper.dismiss();
            return Err(e);
        }
        self.child = Some(child);
        self.reaper = Some(reaper);
        Ok(())
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        stop_child(&mut self.child, nix::sys::signal::Signal::SIGTERM);
        if let Some(r) = self.reaper.take() {
            r.dismiss();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
