//! Slugs: an app's code as uploaded (`.tar.gz`), checked, unpacked and described by its
//! Procfile; `.slugignore` and the size of a compiled slug.
//!
//! Unpacking goes to a temporary directory that is renamed into place only when the whole
//! archive and its Procfile are good, so a bad upload leaves nothing behind. Every entry is
//! checked before it is written: no absolute paths or `..`, no links that leave the app
//! directory, no devices or fifos, and a size budget against compression bombs.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::uploads::Upload;

use crate::error::{Error, Result};

/// Most entries in one archive.
const MAX_ENTRIES: usize = 100_000;

/// A parsed Procfile: process type → command.
pub type ProcessTypes = BTreeMap<String, String>;

/// What an unpacked archive holds.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The Procfile's process types, when it has one (buildpacks may supply defaults).
    pub procfile: Option<ProcessTypes>,
    /// Bytes unpacked.
    pub size: u64,
    /// `SHA256:<hex>` of the archive.
    pub checksum: String,
}

/// True for a valid process type name: `^[a-zA-Z0-9_-]{1,63}$`.
pub fn valid_process_type(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses a Procfile: `type: command` lines; blank lines and `#` comments are skipped.
pub fn parse_procfile(text: &str) -> Result<ProcessTypes> {
    let mut types = ProcessTypes::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let (name, command) = line.split_once(':').ok_or_else(|| {
            Error::BadRequest(format!(
                "Procfile line {n}: expected \"type: command\", got {:?}",
                clip(line)
            ))
        })?;
        let (name, command) = (name.trim(), command.trim());
        if !valid_process_type(name) {
            return Err(Error::BadRequest(format!(
                "Procfile line {n}: process type {:?} must match ^[a-zA-Z0-9_-]{{1,63}}$",
                clip(name)
            )));
        }
        if command.is_empty() {
            return Err(Error::BadRequest(format!(
                "Procfile line {n}: process type {name} has no command"
            )));
        }
        if types.insert(name.to_string(), command.to_string()).is_some() {
            return Err(Error::BadRequest(format!(
                "Procfile line {n}: process type {name} is defined twice"
            )));
        }
    }
    if types.keys().all(|t| t == "release") {
        return Err(Error::BadRequest("the Procfile defines no process types".into()));
    }
    Ok(types)
}

fn clip(s: &str) -> String {
    crate::catalog::clip(s)
}

/// A relative path made only of normal components (`.` allowed), or an error naming it.
fn safe_relative(path: &Path, what: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => {
                return Err(Error::BadRequest(format!(
                    "archive {what} {:?} escapes the app directory",
                    clip(&path.display().to_string())
                )))
            }
        }
    }
    Ok(out)
}

/// Checks that a symlink at `entry` pointing to `target` stays inside the app directory.
fn check_symlink(entry: &Path, target: &Path) -> Result<()> {
    let bad = || {
        Error::BadRequest(format!(
            "archive symlink {:?} points outside the app directory",
            clip(&entry.display().to_string())
        ))
    };
    if target.is_absolute() {
        return Err(bad());
    }
    let mut depth: i64 = entry.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(bad());
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// Unpacks the `.tar.gz` uploaded as `archive` into `dest` (which must not exist) and reads
/// its Procfile, if any (a malformed one is refused now, before any build runs). On any error
/// nothing is left at `dest`.
pub fn unpack(archive: &Upload, dest: &Path, max_bytes: u64) -> Result<Unpacked> {
    let tmp = dest.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    let file = std::fs::File::open(archive.path()).map_err(|e| Error::internal("opening the upload", e))?;
    let result = extract(std::io::BufReader::new(file), &tmp, max_bytes).and_then(|size| {
        let procfile = read_process_types(&tmp)?;
        std::fs::rename(&tmp, dest).map_err(|e| Error::internal("moving the app into place", e))?;
        Ok(Unpacked {
            procfile,
            size,
            checksum: archive.checksum.clone(),
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// The process types of `dir/Procfile`, `None` when there is none.
pub fn read_process_types(dir: &Path) -> Result<Option<ProcessTypes>> {
    if std::fs::symlink_metadata(dir.join("Procfile")).is_err() {
        return Ok(None);
    }
    parse_procfile(&read_procfile(dir)?).map(Some)
}

/// Unpacks a `.tar.gz` read from `archive` safely into the new directory `dir`; returns the
/// bytes unpacked.
pub fn extract(mut archive: impl std::io::BufRead, dir: &Path, max_bytes: u64) -> Result<u64> {
    let head = archive.fill_buf().map_err(bad_archive)?;
    if head.len() < 2 || head[..2] != [0x1f, 0x8b] {
        return Err(Error::BadRequest(
            "the build source must be a gzip-compressed tar archive (.tar.gz)".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::internal(format!("creating {}", dir.display()), e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    // Modes keep their rwx bits but never setuid, setgid or sticky: a root broker must not leave
    // a tenant's setuid-root binary on the host.
    tar.set_preserve_permissions(false);
    tar.set_unpack_xattrs(false);
    tar.set_overwrite(true);
    let (mut size, mut count) = (0u64, 0usize);
    for entry in tar.entries().map_err(bad_archive)? {
        let mut entry = entry.map_err(bad_archive)?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(Error::BadRequest(format!(
                "the archive has more than {MAX_ENTRIES} entries"
            )));
        }
        let raw = entry.path().map_err(bad_archive)?.into_owned();
        let path = safe_relative(&raw, "entry")?;
        if path.as_os_str().is_empty() {
            continue; // "./" itself
        }
        check_entry_kind(&mut entry, &path)?;
        size += entry.header().size().map_err(bad_archive)?;
        if size > max_bytes {
            return Err(Error::BadRequest(format!("the unpacked app exceeds {max_bytes} bytes")));
        }
        // unpack_in refuses, again, anything that would land outside `dir` (through symlinks
        // unpacked earlier, too).
        let inside = entry
            .unpack_in(dir)
            .map_err(|e| Error::BadRequest(format!("unpacking {:?}: {e}", clip(&path.display().to_string()))))?;
        if !inside {
            return Err(Error::BadRequest(format!(
                "archive entry {:?} escapes the app directory",
                clip(&path.display().to_string())
            )));
        }
    }
    Ok(size)
}

/// An archive that the tar reader cannot read.
fn bad_archive(e: std::io::Error) -> Error {
    Error::BadRequest(format!("the build source is not a valid .tar.gz: {e}"))
}

/// Refuses entries other than files, directories and links, and links that leave the app.
fn check_entry_kind(entry: &mut tar::Entry<'_, impl std::io::Read>, path: &Path) -> Result<()> {
    match entry.header().entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory => {}
        tar::EntryType::Symlink => {
            let target = entry
                .link_name()
                .map_err(bad_archive)?
                .ok_or_else(|| Error::BadRequest("archive symlink without a target".into()))?;
            check_symlink(path, &target)?;
        }
        tar::EntryType::Link => {
            let target = entry
                .link_name()
                .map_err(bad_archive)?
                .ok_or_else(|| Error::BadRequest("archive hard link without a target".into()))?;
            safe_relative(&target, "hard link")?;
        }
        other => {
            return Err(Error::BadRequest(format!(
                "archive entry {:?} is a {other:?}; only files, directories and links are allowed",
                clip(&path.display().to_string())
            )))
        }
    }
    Ok(())
}

/// Reads `dir/Procfile`: only a regular file of at most 64 KiB of UTF-8.
fn read_procfile(dir: &Path) -> Result<String> {
    // The Procfile is read from what was unpacked, and only when it is a regular file: never
    // through a symlink (which could point at a host file).
    let path = dir.join("Procfile");
    let no_procfile =
        || Error::BadRequest("the archive has no Procfile at its top level (lines of \"type: command\")".into());
    let meta = std::fs::symlink_metadata(&path).map_err(|_| no_procfile())?;
    if !meta.file_type().is_file() {
        return Err(Error::BadRequest("the Procfile must be a regular file".into()));
    }
    if meta.len() > 64 * 1024 {
        return Err(Error::BadRequest("the Procfile exceeds 64 KiB".into()));
    }
    std::fs::read_to_string(&path).map_err(|_| Error::BadRequest("the Procfile is not UTF-8 text".into()))
}

/// Removes what `dir/.slugignore` (gitignore syntax) matches, before the buildpacks run, as
/// Heroku does. Returns how many paths went.
pub fn apply_slugignore(dir: &Path) -> Result<usize> {
    let file = dir.join(".slugignore");
    if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
        return Ok(0);
    }
    let mut builder = ignore::gitignore::GitignoreBuilder::new(dir);
    if let Some(e) = builder.add(&file) {
        return Err(Error::BadRequest(format!(".slugignore: {e}")));
    }
    let matcher = builder
        .build()
        .map_err(|e| Error::BadRequest(format!(".slugignore: {e}")))?;
    let mut gone = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::internal("reading the app", e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if matcher.matched(&path, is_dir).is_ignore() {
                let removed = if is_dir {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(|e| Error::internal("applying .slugignore", e))?;
                gone += 1;
            } else if is_dir {
                stack.push(path);
            }
        }
    }
    Ok(gone)
}

/// Bytes of the regular files under `dir` (symlinks are not followed).
pub fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfiles_parse_with_comments_and_reject_bad_lines() {
        let types =
            parse_procfile("# app\nweb: ./server --port $PORT\n\nworker:  run-worker \nrelease: migrate\n").unwrap();
        assert_eq!(types["web"], "./server --port $PORT");
        assert_eq!(types["worker"], "run-worker");
        assert_eq!(types.len(), 3);
        for (bad, msg) in [
            ("web ./server", "line 1: expected"),
            ("we b: x", "must match"),
            ("web:", "no command"),
            ("web: a\nweb: b", "defined twice"),
            ("", "no process types"),
            ("release: migrate", "no process types"),
            (&format!("{}: x", "a".repeat(64)), "must match"),
        ] {
            let err = parse_procfile(bad).unwrap_err().to_string();
            assert!(err.contains(msg), "{bad:?}: {err}");
        }
    }

    #[test]
    fn slugignore_removes_what_it_names_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in ["keep.txt", "docs/a.md", "docs/b.md", "src/x.log", "src/y.py"] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), "x").unwrap();
        }
        std::fs::write(d.join(".slugignore"), "docs/\n*.log\n").unwrap();
        assert_eq!(apply_slugignore(d).unwrap(), 2);
        assert!(!d.join("docs").exists() && !d.join("src/x.log").exists());
        assert!(d.join("keep.txt").exists() && d.join("src/y.py").exists());
        assert!(tree_size(d) >= 2);
    }

    #[test]
    fn symlinks_must_stay_inside() {
        assert!(check_symlink(Path::new("a/b"), Path::new("../c")).is_ok());
        assert!(check_symlink(Path::new("a/b"), Path::new("../../c")).is_err());
        assert!(check_symlink(Path::new("b"), Path::new("/etc/passwd")).is_err());
        assert!(safe_relative(Path::new("../x"), "entry").is_err());
        assert!(safe_relative(Path::new("/x"), "entry").is_err());
        assert_eq!(
            safe_relative(Path::new("./a/b"), "entry").unwrap(),
            PathBuf::from("a/b")
        );
    }
}
