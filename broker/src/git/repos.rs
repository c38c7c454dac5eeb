//! The [`Git`] handle: where the apps' bare repositories and the broker's hooks live, making a
//! repository on first use and collecting those of deleted apps.
//!
//! A repository is `<data_dir>/repos/<app id>.git`, named by the app's id (never by its name,
//! so a rename changes nothing and no name a person types is ever a path). The hooks directory,
//! `<data_dir>/git-hooks`, is the broker's: http-backend is told to use it through its
//! environment (`core.hooksPath`), so no file inside a tenant's repository decides what runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{info, warn};

use crate::access::{load_app, Actor, Role};
use crate::db::models::App;
use crate::db::Db;
use crate::error::{Error, Result};

/// The `PATH` of every git process the broker runs.
pub(super) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How often the repositories of deleted apps are looked for.
const COLLECT_EVERY: Duration = Duration::from_secs(5);
/// A half-made repository (a `git init` that died) is removed once this old.
const STALE_INIT_AGE: Duration = Duration::from_secs(600);

/// The apps' git repositories (cheap to clone).
#[derive(Clone)]
pub struct Git {
    db: Db,
    repos_dir: PathBuf,
    hooks_dir: PathBuf,
    max_input_bytes: usize,
}

impl Git {
    /// The repositories under `<data_dir>/repos`, the hooks under `<data_dir>/git-hooks`; a push
    /// may send at most `max_input_bytes` (`runtime.max_archive_bytes`).
    pub fn new(db: Db, data_dir: &Path, max_input_bytes: usize) -> Git {
        Git {
            db,
            repos_dir: data_dir.join("repos"),
            hooks_dir: data_dir.join("git-hooks"),
            max_input_bytes,
        }
    }

    /// Writes the hooks directory: a `pre-receive` script that runs this very binary in its
    /// hook mode (`broker git-hook pre-receive`). Called at start, so that a new binary's path
    /// replaces an old one's.
    pub fn write_hooks(&self) -> Result<()> {
        let exe = std::env::current_exe().map_err(|e| Error::internal("finding the broker's own binary", e))?;
        let fail =
            |e: std::io::Error| Error::internal(format!("writing the git hooks in {}", self.hooks_dir.display()), e);
        std::fs::create_dir_all(&self.hooks_dir).map_err(fail)?;
        std::fs::create_dir_all(&self.repos_dir).map_err(fail)?;
        let script = format!(
            "#!/bin/sh\n# Written by the broker: the push's build (see `broker git-hook`).\nexec {} git-hook pre-receive\n",
            shell_quote(&exe.to_string_lossy())
        );
        let tmp = self.hooks_dir.join(format!(".pre-receive.{}", std::process::id()));
        std::fs::write(&tmp, script).map_err(fail)?;
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).map_err(fail)?;
        std::fs::rename(&tmp, self.hooks_dir.join("pre-receive")).map_err(fail)
    }

    /// The app named by id or name, when the caller may push to it (a collaborator): the 404
    /// of an app that does not exist otherwise.
    pub async fn app_for(&self, app: &str, actor: &Actor) -> Result<App> {
        load_app(&self.db, app, actor, Role::Collaborator).await
    }

    /// Where the repositories are (`GIT_PROJECT_ROOT`).
    pub fn repos_dir(&self) -> &Path {
        &self.repos_dir
    }

    /// The broker's hooks directory (`core.hooksPath`).
    pub fn hooks_dir(&self) -> &Path {
        &self.hooks_dir
    }

    /// The most a push may send (`receive.maxInputSize`).
    pub fn max_input_bytes(&self) -> usize {
        self.max_input_bytes
    }

    /// The app's repository, made (`git init --bare`, branch `main`) when it is not there yet.
    /// The app id comes from the state store, never from a request.
    pub async fn repository(&self, app_id: &str) -> Result<PathBuf> {
        let path = self.repos_dir.join(format!("{app_id}.git"));
        if path.join("HEAD").is_file() {
            return Ok(path);
        }
        // Made aside and renamed, so that two first pushes at once never see half a repository.
        let tmp = self
            .repos_dir
            .join(format!(".init-{app_id}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&self.repos_dir)
            .map_err(|e| Error::internal(format!("creating {}", self.repos_dir.display()), e))?;
        let out = tokio::process::Command::new("git")
            .args(["init", "--quiet", "--bare", "--initial-branch=main"])
            .arg(&tmp)
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", &self.repos_dir)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| Error::internal("running git init (is git installed?)", e))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Internal(format!(
                "git init failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        if std::fs::rename(&tmp, &path).is_err() {
            // Another request made it first: theirs is as good.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        if path.join("HEAD").is_file() {
            Ok(path)
        } else {
            Err(Error::Internal(format!(
                "no repository at {} after git init",
                path.display()
            )))
        }
    }

    /// Removes the repositories whose app is gone, and `git init`s that never finished once they
    /// are old. Returns how many went.
    pub async fn collect_repositories(&self) -> Result<usize> {
        let Ok(entries) = std::fs::read_dir(&self.repos_dir) else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let gone = match name.strip_suffix(".git") {
                Some(id) if !name.starts_with('.') => {
                    let id = id.to_string();
                    self.db.run(move |c| App::get(c, &id)).await?.is_none()
                }
                _ => entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= STALE_INIT_AGE),
            };
            if gone && std::fs::remove_dir_all(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Collects repositories every few seconds until `shutdown` resolves.
    pub async fn run_collector(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.collect_repositories().await {
                Ok(n) if n > 0 => info!(repositories = n, "removed git repositories of deleted apps"),
                Ok(_) => {}
                Err(e) if !e.is_outage() => warn!(error = %e.chain(), "collecting git repositories"),
                Err(_) => {}
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(COLLECT_EVERY) => {}
            }
        }
    }
}

/// `text` in single quotes for `sh`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("/a b/broker"), "'/a b/broker'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
