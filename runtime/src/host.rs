//! What the local backend needs of the host: absolute program paths, directories the dyno user
//! can reach, copies of an app's files, and the read-only binds of the system directories.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{Result, RuntimeError};

/// `PATH` of the host-side processes (wrapper, setpriv, pasta, bwrap): fixed, never the tenant's.
pub(crate) const HOST_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// An absolute path for `program`, looked up in the broker's `PATH` when it has no slash, so
/// that no environment decides later which binary runs as root. `package` is named in the error.
pub(crate) fn resolve(program: &Path, package: &str) -> Result<PathBuf> {
    if program.components().count() > 1 {
        return Ok(program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| HOST_PATH.into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            RuntimeError::Host(format!(
                "{} is not on PATH; install the {package} package",
                program.display()
            ))
        })
}

/// Every ancestor of `dir` must let others search it, or the unprivileged bubblewrap cannot
/// reach the app directories under it.
pub(crate) fn check_traversable(dir: &Path) -> Result<()> {
    let abs = fs::canonicalize(dir).map_err(|e| io("resolving", dir, e))?;
    for ancestor in abs.ancestors() {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(ancestor)
                .map_err(|e| io("reading", ancestor, e))?
                .permissions(),
        );
        if mode & 0o001 == 0 {
            return Err(RuntimeError::Host(format!(
                "dynos run as an unprivileged user, which cannot reach {}: {} is mode {:o} (needs o+x)",
                abs.display(),
                ancestor.display(),
                mode & 0o777
            )));
        }
    }
    Ok(())
}

pub(crate) fn io(what: &str, path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Host(format!("{what} {}: {e}", path.display()))
}

/// Copies `from` into the new directory `to`, keeping modes and symlinks, owned by `owner`.
pub(crate) fn copy_tree(from: &Path, to: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    fs::create_dir(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst, owner)?;
            continue;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
        } else {
            continue; // slugs hold no devices, fifos or sockets
        }
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::lchown(&dst, Some(uid), Some(gid))?;
        }
    }
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::lchown(to, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// Makes `dir` and everything under it `owner`'s, never following a symlink.
pub(crate) fn chown_tree(dir: &Path, owner: (u32, u32)) -> std::io::Result<()> {
    let (uid, gid) = owner;
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    if !fs::symlink_metadata(dir)?.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            chown_tree(&entry.path(), owner)?;
        } else {
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// Binds for the host's system directories, read-only; merged-/usr symlinks stay symlinks.
pub(crate) fn system_mounts(args: &mut Vec<String>) {
    args.extend(["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"].map(String::from));
    for dir in ["/bin", "/sbin", "/lib", "/lib64", "/lib32"] {
        match fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = fs::read_link(dir) {
                    args.extend(["--symlink".into(), target.display().to_string(), dir.into()]);
                }
            }
            Ok(_) => args.extend(["--ro-bind".into(), dir.into(), dir.into()]),
            Err(_) => {}
        }
    }
}
