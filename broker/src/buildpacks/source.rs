//! What a person may name as a buildpack, and where a build finds it: a built-in name
//! (`heroku/python`), an absolute path under one of `builds.buildpack_paths` on the broker's
//! host, or an `http(s)` URL of a `.tar.gz` (fetched for every build, as Heroku does).

use std::path::{Path, PathBuf};

use futures::StreamExt;

use super::builtin::BUILTINS;
use crate::catalog::clip;
use crate::config::BuildSettings;
use crate::error::{Error, Result};

/// A buildpack ready for a build: its name as set and its directory on the host.
#[derive(Debug, Clone)]
pub struct Buildpack {
    /// What the person set (or the built-in's name).
    pub name: String,
    /// The directory holding `bin/detect`, `bin/compile` and maybe `bin/release`.
    pub dir: PathBuf,
}

/// Where buildpacks come from.
pub struct Sources<'a> {
    /// The directory the built-ins were written to.
    pub builtin_root: &'a Path,
    /// The build settings (allowed paths, archive size, loopback).
    pub settings: &'a BuildSettings,
}

/// Checks a buildpack reference as a person sets it; the error says what is accepted.
pub fn check_reference(reference: &str, settings: &BuildSettings) -> Result<()> {
    let r = reference.trim();
    if r.is_empty() || r.len() > 2048 || r.chars().any(char::is_control) {
        return Err(Error::Unprocessable(
            "a buildpack is a built-in name, an absolute path or an http(s) URL of at most 2048 characters".into(),
        ));
    }
    if BUILTINS.iter().any(|b| b.name == r) {
        return Ok(());
    }
    if r.starts_with('/') {
        return allowed_dir(r, settings).map(|_| ());
    }
    if r.starts_with("http://") || r.starts_with("https://") {
        let url =
            reqwest::Url::parse(r).map_err(|e| Error::Unprocessable(format!("buildpack URL {}: {e}", clip(r))))?;
        if !settings.allow_loopback_buildpacks && providers::partner::is_loopback(url.as_str()) {
            return Err(Error::Unprocessable(format!(
                "buildpack URL {}: loopback hosts are allowed only with builds.allow_loopback_buildpacks = true",
                clip(r)
            )));
        }
        return Ok(());
    }
    let names: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
    Err(Error::Unprocessable(format!(
        "unknown buildpack {}: use a built-in ({}), an absolute path under builds.buildpack_paths, or an http(s) URL of a .tar.gz",
        clip(r),
        names.join(", ")
    )))
}

/// The canonical directory of a path buildpack, when it lies under an allowed root and holds
/// `bin/detect` and `bin/compile`.
fn allowed_dir(path: &str, settings: &BuildSettings) -> Result<PathBuf> {
    let refuse = |why: &str| Error::Unprocessable(format!("buildpack path {}: {why}", clip(path)));
    let dir = std::fs::canonicalize(path).map_err(|_| refuse("no such directory on the broker's host"))?;
    let inside = settings
        .buildpack_paths
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .any(|root| dir.starts_with(root));
    if !inside {
        return Err(refuse("not under a directory of builds.buildpack_paths"));
    }
    if !dir.join("bin/detect").is_file() || !dir.join("bin/compile").is_file() {
        return Err(refuse("a buildpack needs bin/detect and bin/compile"));
    }
    Ok(dir)
}

/// Finds or fetches the buildpack `reference` for a build; an archive is unpacked under `work`
/// (a fresh directory per build). Errors are the build's to report.
pub async fn fetch(reference: &str, sources: &Sources<'_>, work: &Path, http: &reqwest::Client) -> Result<Buildpack> {
    let r = reference.trim();
    check_reference(r, sources.settings)?;
    let dir = if let Some(b) = BUILTINS.iter().find(|b| b.name == r) {
        sources.builtin_root.join(b.dir)
    } else if r.starts_with('/') {
        allowed_dir(r, sources.settings)?
    } else {
        download(r, sources.settings.max_buildpack_bytes, work, http).await?
    };
    Ok(Buildpack {
        name: r.to_string(),
        dir,
    })
}

/// Downloads and unpacks a buildpack archive; one top-level directory is stepped into (the
/// shape of a repository's archive).
async fn download(url: &str, max: usize, work: &Path, http: &reqwest::Client) -> Result<PathBuf> {
    let fail = |why: String| Error::Unprocessable(format!("buildpack {}: {why}", clip(url)));
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(format!("fetching it failed: {e}")))?;
    if !resp.status().is_success() {
        return Err(fail(format!("fetching it answered {}", resp.status())));
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.map_err(|e| fail(format!("fetching it failed: {e}")))?);
        if body.len() > max {
            return Err(fail(format!("the archive exceeds {max} bytes")));
        }
    }
    let dest = work.join(format!("fetched-{}", uuid::Uuid::new_v4().simple()));
    let unpack_to = dest.clone();
    tokio::task::spawn_blocking(move || crate::slugs::extract(&body[..], &unpack_to, 500 << 20))
        .await
        .map_err(|e| Error::internal("unpacking a buildpack", e))?
        .map_err(|e| fail(e.public_message()))?;
    let mut dir = dest.clone();
    let entries: Vec<_> = std::fs::read_dir(&dest)
        .map_err(|e| Error::internal("reading a buildpack", e))?
        .flatten()
        .collect();
    if let [only] = entries.as_slice() {
        if only.file_type().is_ok_and(|t| t.is_dir()) && !dest.join("bin").exists() {
            dir = only.path();
        }
    }
    if !dir.join("bin/detect").is_file() || !dir.join("bin/compile").is_file() {
        return Err(fail("the archive has no bin/detect and bin/compile".into()));
    }
    make_readable(&dest).map_err(|e| Error::internal("reading a buildpack", e))?;
    Ok(dir)
}

/// Opens a fetched buildpack to the unprivileged build user: directories 0755, files 0644 or
/// 0755 (executable bits kept).
fn make_readable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            continue;
        }
        let mode = entry.metadata()?.permissions().mode();
        let new = if kind.is_dir() || mode & 0o100 != 0 {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(new))?;
        if kind.is_dir() {
            make_readable(&entry.path())?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
}
