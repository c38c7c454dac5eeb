//! The ephemeral Kafka-protocol broker (tansu, its data in memory).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::process::{scratch_dir, start_on_free_port, stop_child, Reaper};
use crate::error::{Error, Result};

/// Finds `tansu`: `$TANSU`, else on `PATH`, else in cargo's bin directory.
pub fn tansu_bin() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("TANSU") {
        return Ok(PathBuf::from(path));
    }
    let cargo_bin = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|p| p.join("bin"))
        .unwrap_or_default();
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path.split(':').map(PathBuf::from).chain(std::iter::once(cargo_bin));
    for dir in dirs {
        let candidate = dir.join("tansu");
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(Error::Internal(
        "tansu not found: scripts/install-deps installs it with cargo (or set TANSU)".into(),
    ))
}

/// An ephemeral Kafka-protocol broker: `tansu` with in-memory storage. Stopped on drop.
pub struct TansuServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    reaper: Option<Reaper>,
}

impl TansuServer {
    /// Starts tansu on a free loopback port.
    pub fn start() -> Result<TansuServer> {
        let bin = tansu_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("addon-broker-tansu-")
            .tempdir_in(scratch_dir())
            .map_err(|e| Error::internal("temp dir", e))?;
        let log = dir.path().join("tansu.log");
        let (child, port, reaper) = start_on_free_port(dir.path(), &log, "tansu", |port| {
            let url = format!("tcp://127.0.0.1:{port}");
            let logfile = std::fs::File::create(&log).map_err(|e| Error::internal("log file", e))?;
            let mut cmd = Command::new(&bin);
            cmd.arg("broker")
                .args(["--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                .env("RUST_LOG", "warn")
                .current_dir(dir.path())
                .stderr(logfile);
            Ok(cmd)
        })?;
        Ok(TansuServer {
            dir,
            port,
            child: Some(child),
            reaper: Some(reaper),
        })
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Bootstrap servers (`127.0.0.1:PORT`).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        stop_child(&mut self.child, nix::sys::signal::Signal::SIGTERM);
        if let Some(r) = self.reaper.take() {
            r.dismiss();
        }
    }
}

impl Drop for TansuServer {
    fn drop(&mut self) {
        self.stop();
    }
}
