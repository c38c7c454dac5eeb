//! Ephemeral backing servers on free loopback ports, for `broker dev`, the test harness and the
//! benchmarks: a PostgreSQL cluster made with `initdb` in a temporary directory.
//!
//! Each server gets a reaper: a small shell process that waits for the owning process to exit,
//! however it exits (even `kill -9`), then stops the server and removes its directory, so
//! nothing is left running behind a crashed test run.

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
fn service_account() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("postgres").ok().flatten()?;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

fn chown_tree(path: &Path, ids: Option<(u32, u32)>) -> Result<()> {
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| Error::internal(format!("chown {}", path.display()), e))?;
    }
    Ok(())
}

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
fn start_postgres(bin: &Path, data: &Path, dir: &Path, account: Option<(u32, u32)>) -> Result<Attempt> {
    let port = free_port()?;
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
            match start_postgres(&bin, &data, dir.path(), account)? {
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

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        let reaper = self.reaper.take();
        self.stop_server();
        if let Some(r) = reaper {
            r.dismiss();
        }
    }

    fn stop_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

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

/// Waits until `port` accepts connections or `child` exits.
fn wait_for_port(child: &mut Child, port: u16, log: &Path, what: &str) -> Result<()> {
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
fn start_on_free_port(
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

fn stop_child(child: &mut Option<Child>, signal: nix::sys::signal::Signal) {
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
            let mut cmd = Command::new(&bin);
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .arg("--aclfile")
            .arg(&acl)
            .arg("--logfile")
            .arg(&log)
            .stderr(Stdio::null());
            Ok(cmd)
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
