//! The `broker` client as a person runs it: the real binary, in a directory of the test's own,
//! with a home (and so a login file) of its own, colour off, and the broker under test's URL
//! and a platform token in `BROKER_URL` / `BROKER_TOKEN` unless a test says otherwise.

use std::path::{Path, PathBuf};
use std::process::Output;

use tempfile::TempDir;

use crate::app::{broker_bin, TestApp};

/// A person at a terminal (without one, unless a test gives it a PTY): a working directory and
/// a home of their own.
pub struct CliUser {
    home: TempDir,
    cwd: PathBuf,
    env: Vec<(String, String)>,
}

/// What one command did.
#[derive(Debug)]
pub struct Ran {
    /// Exit code (`-1` when ended by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Ran {
    /// What a finished process did.
    pub fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success; returns standard output.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts a failure: a non-zero exit and exactly one line on standard error, which it returns.
    #[track_caller]
    pub fn fails(&self) -> &str {
        assert_ne!(
            self.code, 0,
            "expected a failure\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line on stderr, got: {}", self.stderr);
        lines[0]
    }

    /// Standard output parsed as JSON (for `--json`).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl CliUser {
    /// A person logged in (by environment) to `app` as `sub`, with a platform token.
    pub fn new(app: &TestApp, sub: &str) -> CliUser {
        let token = app.token(sub, broker::auth::Scope::Platform);
        let mut user = CliUser::logged_out();
        user.set_env("BROKER_URL", &app.url);
        user.set_env("BROKER_TOKEN", &token);
        user
    }

    /// A person with no login at all.
    pub fn logged_out() -> CliUser {
        let home = tempfile::Builder::new().prefix("cli-home-").tempdir().unwrap();
        let cwd = home.path().join("work");
        std::fs::create_dir_all(&cwd).unwrap();
        CliUser {
            home,
            cwd,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every command that follows.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Removes an environment variable this user set.
    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// The user's home directory (the login file lives under `<home>/.config/broker/`).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The working directory commands run in.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// Changes the working directory (created when missing).
    pub fn cd(&mut self, dir: impl Into<PathBuf>) {
        self.cwd = dir.into();
        std::fs::create_dir_all(&self.cwd).unwrap();
    }

    /// Starts `broker ARGS…` (a `logs --tail`) and hands back the process and its standard
    /// output, line by line, as it comes.
    pub fn follow(&self, args: &[&str]) -> (std::process::Child, tokio::sync::mpsc::UnboundedReceiver<String>) {
        use std::io::BufRead;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// The command for `broker ARGS…`, ready to run (for tests that need stdin or a PTY).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(broker_bin());
        cmd.args(args)
            .current_dir(&self.cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `git ARGS…` in the working directory with this user's environment (so that the
    /// credential helper `apps:create` sets up finds the login), never prompting.
    pub async fn git(&self, args: &[&str]) -> Ran {
        let mut cmd = std::process::Command::new("git");
        cmd.args(args)
            .current_dir(&self.cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        Ran::from(out)
    }

    /// Runs `broker ARGS…` with no input, off the async threads.
    pub async fn run(&self, args: &[&str]) -> Ran {
        let mut cmd = self.command(args);
        cmd.stdin(std::process::Stdio::null());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        Ran::from(out)
    }

    /// Runs `broker ARGS…` with `input` on standard input.
    pub async fn run_with_input(&self, args: &[&str], input: &[u8]) -> Ran {
        use std::io::Write;
        let mut cmd = self.command(args);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let input = input.to_vec();
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn()?;
            let mut stdin = child.stdin.take().unwrap();
            // Written from a thread, so a command that prints before it reads never deadlocks.
            let writer = std::thread::spawn(move || stdin.write_all(&input));
            let out = child.wait_with_output();
            let _ = writer.join();
            out
        })
        .await
        .unwrap()
        .unwrap();
        Ran::from(out)
    }
}
