//! Control groups: the kernel's memory and process-count limits for each container.
//!
//! Each container gets a group named by its id under `<the broker's own group>/<parent>` in
//! the cgroup v1 `memory` and `pids` hierarchies, which is what this platform's hosts run
//! (hybrid mode: v1 controllers, an empty v2 mount). Nesting under the broker's own group keeps
//! every dyno inside whatever limit the broker itself is given.
//!
//! Pure cgroup v2 hosts are refused with a precise error rather than half-supported: v2 needs a
//! delegated subtree (the "no internal processes" rule forbids enabling controllers in the
//! broker's own occupied group), which is host configuration this code cannot test here.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{Limits, Result, RuntimeError};

const MOUNT: &str = "/sys/fs/cgroup";

/// The cgroup v1 hierarchies a container is placed in.
#[derive(Debug, Clone)]
pub struct Cgroups {
    memory: PathBuf,
    pids: PathBuf,
}

fn host(what: &str, path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Host(format!("cgroups: {what} {}: {e}", path.display()))
}

/// This process's path in a v1 hierarchy, from `/proc/self/cgroup` (`N:memory:/a/b`).
fn own_path(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        list.split(',').any(|c| c == controller).then(|| path.to_string())
    })
}

impl Cgroups {
    /// Finds the `memory` and `pids` hierarchies and makes `<own group>/<parent>` in both.
    pub fn detect(parent: &str) -> Result<Cgroups> {
        if Path::new(MOUNT).join("cgroup.controllers").exists() {
            return Err(RuntimeError::Host(
                "cgroups: this host runs cgroup v2 only; the local runtime needs the v1 memory and pids \
                 controllers (boot with systemd.unified_cgroup_hierarchy=0)"
                    .into(),
            ));
        }
        let mut dirs = Vec::new();
        for controller in ["memory", "pids"] {
            let mount = Path::new(MOUNT).join(controller);
            let own = own_path(controller).ok_or_else(|| {
                RuntimeError::Host(format!(
                    "cgroups: the {controller} controller is not mounted at {MOUNT}/{controller}"
                ))
            })?;
            let dir = mount.join(own.trim_start_matches('/')).join(parent);
            fs::create_dir_all(&dir).map_err(|e| host("creating", &dir, e))?;
            dirs.push(dir);
        }
        let pids = dirs.pop().unwrap_or_default();
        let memory = dirs.pop().unwrap_or_default();
        Ok(Cgroups { memory, pids })
    }

    fn dirs(&self, id: &str) -> [PathBuf; 2] {
        [self.memory.join(id), self.pids.join(id)]
    }

    /// Makes the container's groups with its limits; returns the `cgroup.procs` files a
    /// process writes its pid to in order to enter them.
    pub fn create(&self, id: &str, limits: Limits) -> Result<Vec<PathBuf>> {
        let [memory, pids] = self.dirs(id);
        for dir in [&memory, &pids] {
            // A left-over group of the same id would carry old counters (oom_kill): start afresh.
            let _ = fs::remove_dir(dir);
            match fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(host("creating", dir, e)),
            }
        }
        let write = |file: PathBuf, value: String| fs::write(&file, value).map_err(|e| host("writing", &file, e));
        write(memory.join("memory.limit_in_bytes"), limits.memory_bytes.to_string())?;
        // With swap accounting, cap memory+swap too, so the limit cannot be dodged by swapping.
        let memsw = memory.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            write(memsw, limits.memory_bytes.to_string())?;
        }
        write(pids.join("pids.max"), limits.max_processes.to_string())?;
        Ok(vec![memory.join("cgroup.procs"), pids.join("cgroup.procs")])
    }

    /// Host pids of every process in the container's memory group.
    pub fn procs(&self, id: &str) -> Vec<i32> {
        fs::read_to_string(self.memory.join(id).join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// True when the OOM killer has killed a process of the container.
    pub fn oom_killed(&self, id: &str) -> bool {
        fs::read_to_string(self.memory.join(id).join("memory.oom_control"))
            .map(|t| {
                t.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
            .unwrap_or(false)
    }

    /// Current memory use of the container in bytes.
    pub fn memory_usage(&self, id: &str) -> Option<u64> {
        fs::read_to_string(self.memory.join(id).join("memory.usage_in_bytes"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
    }

    /// Removes the container's groups (they must be empty); absent groups are fine.
    pub fn remove(&self, id: &str) -> Result<()> {
        for dir in self.dirs(id) {
            match fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(host("removing", &dir, e)),
            }
        }
        Ok(())
    }
}
