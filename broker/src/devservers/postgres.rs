//! The ephemeral PostgreSQL cluster: `initdb` in a temporary directory, `postgres` on a free
//! loopback port with SCRAM passwords over TCP.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{chown_tree, free_port, scratch_dir, service_account, spawn_reaper, stop_child, Reaper};
use crate::error::{Error, Result};

/// Finds PostgreSQL's server binaries: `$PG_BIN`, then `pg_config --bindir`, then the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn postgres_bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = candidates.into_iter().rev().find(|p| p.join("initdb").exists()) {
        return Ok(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    Err(Error::Internal(
        "PostgreSQL server binaries (initdb, postgres) not found: install the postgresql package \
         (scripts/install-deps does) or set PG_BIN"
            .into(),
    ))
}

/// Runs `initdb` for a cluster in `data` whose superuser password is in `pwfile`.
fn init_cluster(bin: &Path, data: &Path, pwfile: &Path, account: Option<(u32, u32)>) -> Result<()> {
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            "postgres",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .args(["--locale=C", "--no-sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = account {
        initdb.uid(uid).gid(gid);
    }
    let out = initdb.output().map_err(|e| Error::internal("running initdb", e))?;
    if !out.status.success() {
        return Err(Error::Internal(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// How one attempt to start postgres on a fresh port ended.
enum Attempt {
    /// Listening and ready.
    Ready { port: u16, child: Child, reaper: Reaper },
    /// Exited or never became ready; the next attempt takes another port.
    Failed(String),
}

/// Starts `postgres` for the cluster in `data` on a free loopback port and waits until it is
/// ready.
fn start_postgres(bin: &Path, data: &Path, dir: &Path, account: Option<(u32, u32)>, port: u16) -> Result<Attempt> {
    let log = dir.join("postgres.log");
    let logfile = std::fs::File::create(&log).map_err(|e| Error::internal("log file", e))?;
    chown_tree(&log, account)?;
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D")
        .arg(data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .args(["-c", "max_connections=500", "-c", "shared_buffers=64MB"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(logfile)
        .process_group(0);
    if let Some((uid, gid)) = account {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd.spawn().map_err(|e| Error::internal("starting postgres", e))?;
    let reaper = spawn_reaper(child.id(), "INT", dir)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            reaper.dismiss();
            return Ok(Attempt::Failed(format!(
                "postgres exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )));
        }
        let ready = std::fs::read_to_string(&log)
            .map(|l| l.contains("ready to accept connections"))
            .unwrap_or(false);
        if ready && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Attempt::Ready { port, child, reaper });
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            reaper.dismiss();
            return Ok(Attempt::Failed("postgres did not become ready within 30 s".into()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An ephemeral PostgreSQL cluster. Stopped and removed on drop.
pub struct PostgresServer {
    dir: tempfile::TempDir,
    port: u16,
    password: String,
    child: Option<Child>,
    reaper: Option<Reaper>,
}

impl PostgresServer {
    /// Runs `initdb` and starts `postgres` on a free loopback port, with password (SCRAM)
    /// authentication over TCP so that revoked passwords really fail.
    pub fn start() -> Result<PostgresServer> {
        let bin = postgres_bin_dir()?;
        let account = service_account();
        let dir = tempfile::Builder::new()
            .prefix("addon-broker-pg-")
            .tempdir_in(scratch_dir())
            .map_err(|e| Error::internal("temp dir", e))?;
        chown_tree(dir.path(), account)?;
        let password = providers::names::random_password(24);
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).map_err(|e| Error::internal("pwfile", e))?;
        chown_tree(&pwfile, account)?;
        let data = dir.path().join("data");

        init_cluster(&bin, &data, &pwfile, account)?;
        let _ = std::fs::remove_file(&pwfile);

        let mut last_error = String::new();
        for _ in 0..5 {
            match start_postgres(&bin, &data, dir.path(), account, free_port()?)? {
                Attempt::Ready { port, child, reaper } => {
                    return Ok(PostgresServer {
                        dir,
                        port,
                        password,
                        child: Some(child),
                        reaper: Some(reaper),
                    })
                }
                Attempt::Failed(why) => last_error = why,
            }
        }
        Err(Error::Internal(last_error))
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Superuser URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the stopped server again on its port and data (a database server restarting
    /// under the broker's feet).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let bin = postgres_bin_dir()?;
        let data = self.dir.path().join("data");
        match start_postgres(&bin, &data, self.dir.path(), service_account(), self.port)? {
            Attempt::Ready { child, reaper, .. } => {
                self.child = Some(child);
                self.reaper = Some(reaper);
                Ok(())
            }
            Attempt::Failed(why) => Err(Error::Internal(why)),
        }
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown.
        stop_child(&mut self.child, nix::sys::signal::Signal::SIGINT);
        if let Some(r) = self.reaper.take() {
            r.dismiss();
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}
