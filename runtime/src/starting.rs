//! The `starting` marker of a local container: present from just before its `meta.json` is
//! written until its processes are in their cgroup. Without it, a `list` or `status` that runs
//! in that window finds a container with a spec but no processes and reports it exited, and
//! the broker shows a dyno that is only starting as crashed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const MARKER: &str = "starting";

/// Longer than `start` waits for the processes (10 s): a marker older than this was left by a
/// broker that died mid-start, and the container it names never got going.
const FRESH: Duration = Duration::from_secs(30);

/// The marker of one start: removed when dropped, that is when `start` returns, whether its
/// processes run or it failed.
pub struct Starting(PathBuf);

impl Starting {
    /// Marks the container in `dir` as starting.
    pub fn mark(dir: &Path) -> std::io::Result<Starting> {
        let path = dir.join(MARKER);
        fs::write(&path, b"")?;
        Ok(Starting(path))
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// True while a start of the container in `dir` is under way.
pub fn under_way(dir: &Path) -> bool {
    fs::metadata(dir.join(MARKER))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < FRESH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_is_under_way_while_its_marker_lives() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!under_way(dir.path()));
        let marker = Starting::mark(dir.path()).unwrap();
        assert!(under_way(dir.path()));
        drop(marker);
        assert!(!under_way(dir.path()));
    }
}
