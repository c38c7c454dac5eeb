//! Which app a command is about: `--app/-a`, else a `.broker-app` file in the directory or
//! one above it, else the app named by the directory's `broker` git remote (Heroku's way).

use std::path::{Path, PathBuf};

use clap::Args;

use super::error::{CliError, CliResult};

/// The file `apps:create` writes and every command reads: the app's name on its first line.
pub const APP_FILE: &str = ".broker-app";

/// `--app/-a NAME`.
#[derive(Debug, Clone, Default, Args)]
pub struct AppFlag {
    /// The app (default: the `.broker-app` file, else the `broker` git remote of this directory).
    #[arg(short = 'a', long, value_name = "APP")]
    pub app: Option<String>,
}

impl AppFlag {
    /// The app this command is about, or a line saying how to name one.
    pub fn resolve(&self) -> CliResult<String> {
        self.try_resolve()?.ok_or_else(|| {
            CliError::new(format!(
                "no app given: pass --app NAME, or run this where a {APP_FILE} file names one (apps:create writes it)"
            ))
        })
    }

    /// The app, when one is named (for commands that also work without one, like `addons`).
    pub fn try_resolve(&self) -> CliResult<Option<String>> {
        if let Some(app) = self.app.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            return Ok(Some(app.to_string()));
        }
        let cwd = std::env::current_dir().map_err(|e| CliError::new(format!("the current directory: {e}")))?;
        if let Some(app) = from_app_file(&cwd)? {
            return Ok(Some(app));
        }
        Ok(from_git_remote(&cwd))
    }
}

/// The app named by the nearest `.broker-app` at or above `dir`.
pub fn from_app_file(dir: &Path) -> CliResult<Option<String>> {
    for d in dir.ancestors() {
        let path = d.join(APP_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let name = text.lines().next().unwrap_or("").trim().to_string();
                if name.is_empty() {
                    return Err(CliError::new(format!(
                        "{} is empty; put the app's name in it",
                        path.display()
                    )));
                }
                return Ok(Some(name));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CliError::new(format!("reading {}: {e}", path.display()))),
        }
    }
    Ok(None)
}

/// The app of the `broker` git remote (`…/APP.git`), when `dir` is in a git work tree.
fn from_git_remote(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "--get", "remote.broker.url"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let url = String::from_utf8(out.stdout).ok()?;
    let last = url.trim().trim_end_matches('/').rsplit('/').next()?;
    let app = last.strip_suffix(".git").unwrap_or(last);
    (!app.is_empty()).then(|| app.to_string())
}

/// Writes `.broker-app` in `dir` naming `app`; returns its path.
pub fn write_app_file(dir: &Path, app: &str) -> CliResult<PathBuf> {
    let path = dir.join(APP_FILE);
    std::fs::write(&path, format!("{app}\n")).map_err(|e| CliError::new(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}
