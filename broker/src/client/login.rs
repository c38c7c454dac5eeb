//! Where the client finds its broker: `BROKER_URL` / `BROKER_TOKEN`, else the login file that
//! `broker login` and `broker dev` write (mode 0600, `<config dir>/broker/credentials.json`).

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{CliError, CliResult};

/// A broker URL and a platform token.
#[derive(Clone, Serialize, Deserialize)]
pub struct Login {
    /// Base URL of the broker (`http://127.0.0.1:8080`).
    pub url: String,
    /// A platform bearer token.
    pub token: String,
}

impl std::fmt::Debug for Login {
    // The token is a credential: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The login file: `$XDG_CONFIG_HOME/broker/credentials.json` (or `~/.config/…`).
pub fn login_path() -> CliResult<PathBuf> {
    dirs::config_dir()
        .map(|d| d.join("broker").join("credentials.json"))
        .ok_or_else(|| CliError::new("no config directory: set HOME or XDG_CONFIG_HOME"))
}

/// The stored login, if any.
pub fn stored() -> CliResult<Option<Login>> {
    let path = login_path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CliError::new(format!(
                "{} is not a login file ({e}); run broker login again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::new(format!("reading {}: {e}", path.display()))),
    }
}

/// The login to use: `BROKER_URL` and `BROKER_TOKEN` override the stored one, each alone.
pub fn current() -> CliResult<Login> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let stored = stored()?;
    let url = env("BROKER_URL").or_else(|| stored.as_ref().map(|l| l.url.clone()));
    let token = env("BROKER_TOKEN").or_else(|| stored.as_ref().map(|l| l.token.clone()));
    match (url, token) {
        (Some(url), Some(token)) => Ok(Login {
            url: url.trim_end_matches('/').to_string(),
            token,
        }),
        _ => Err(CliError::new(
            "not logged in: run `broker login` (or set BROKER_URL and BROKER_TOKEN)",
        )),
    }
}

/// Writes the login file, readable by its owner only.
pub fn store(login: &Login) -> CliResult<PathBuf> {
    let path = login_path()?;
    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
    let fail = |what: &str, e: std::io::Error| CliError::new(format!("{what} {}: {e}", path.display()));
    std::fs::create_dir_all(&dir).map_err(|e| fail("creating the directory of", e))?;
    // Written aside and renamed, so a reader never sees half a file and the mode is right
    // from the first byte.
    let tmp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let text = serde_json::to_vec_pretty(login).map_err(|e| CliError::new(format!("encoding the login: {e}")))?;
    options
        .open(&tmp)
        .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| fail("writing", e))?;
    Ok(path)
}

/// Removes the login file; true when there was one.
pub fn forget() -> CliResult<bool> {
    let path = login_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(CliError::new(format!("removing {}: {e}", path.display()))),
    }
}
