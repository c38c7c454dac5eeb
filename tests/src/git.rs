//! Helpers of the `git push` tests: a git work tree of the sample app in a temporary directory
//! (real `git`, a home of its own, never prompting), remote URLs with a token as the password,
//! and raw HTTP requests whose paths reach the broker exactly as written (no client tidies
//! `..` or `%2e` away).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::cli::Ran;
use crate::dynos::sample_binary;

/// A git work tree on branch `main`, with a home (and so a global git config) of its own.
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Default for Repo {
    fn default() -> Self {
        Repo::new()
    }
}

impl Repo {
    /// `git init -b main` in a fresh directory, with a user name and e-mail.
    pub fn new() -> Repo {
        let dir = tempfile::Builder::new().prefix("git-work-").tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        let repo = Repo { dir };
        for args in [
            &["init", "--quiet", "--initial-branch=main"][..],
            &["config", "user.name", "Test Pusher"],
            &["config", "user.email", "pusher@example.com"],
        ] {
            repo.sync(args);
        }
        repo
    }

    /// The work tree.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("work")
    }

    /// Writes `text` at `rel` in the work tree (not added).
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Removes `rel` from the work tree.
    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path().join(rel)).unwrap();
    }

    /// The sample app with this Procfile in the work tree (not added).
    pub fn sample(&self, procfile: &str) {
        self.write("Procfile", procfile);
        let bin = self.path().join("sample-dyno");
        if !bin.exists() {
            std::fs::copy(sample_binary(), &bin).unwrap();
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// `git add -A` of `paths` (all when empty), then a commit; its id.
    pub fn commit(&self, message: &str, paths: &[&str]) -> String {
        let mut add = vec!["add", "-A", "--"];
        add.extend(paths);
        self.sync(&add);
        self.sync(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.sync(&["rev-parse", "HEAD"]).stdout.trim().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn sync(&self, args: &[&str]) -> Ran {
        let ran = Ran::from(self.command(args).output().unwrap());
        assert_eq!(ran.code, 0, "git {args:?}: {}", ran.stderr);
        ran
    }

    /// Runs `git ARGS…` in the work tree, off the async threads.
    pub async fn git(&self, args: &[&str]) -> Ran {
        let mut cmd = self.command(args);
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        Ran::from(out)
    }

    /// The commit `rel` names on the remote at `url` (`refs/heads/main`), if any.
    pub async fn remote_ref(&self, url: &str, rel: &str) -> Option<String> {
        let out = self.git(&["ls-remote", url, rel]).await;
        assert_eq!(out.code, 0, "git ls-remote: {}", out.stderr);
        out.stdout.split_whitespace().next().map(str::to_string)
    }
}

/// `http://broker:<token>@127.0.0.1:PORT/apps/<app>.git` for the broker at `base`.
pub fn remote_url(base: &str, app: &str, token: &str) -> String {
    let rest = base.strip_prefix("http://").unwrap();
    format!("http://broker:{token}@{rest}/apps/{app}.git")
}

/// The broker's repository directory of an app, by id, under its data directory.
pub fn repository_dir(data_dir: &Path, app_id: &str) -> std::path::PathBuf {
    data_dir.join("repos").join(format!("{app_id}.git"))
}

/// `GET path` sent byte for byte as written (Basic auth `broker:<token>` when given); the
/// status and the body.
pub fn raw_get(base: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use base64::Engine;
    let authority = base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("broker:{t}"));
            format!("Authorization: Basic {basic}\r\n")
        })
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, text)
}
