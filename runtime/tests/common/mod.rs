//! What the runtime's test files share: directories the dyno user can reach, and a local
//! runtime as the broker opens it (dyno user, own networks).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use runtime::local::{LocalConfig, LocalRuntime};
use runtime::network::LocalNetwork;

/// A temporary directory the unprivileged dyno user can traverse.
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
    dir
}

/// A local runtime over `root` whose containers live under the cgroup `cgroup_parent`.
pub fn runtime(root: &Path, cgroup_parent: &str) -> LocalRuntime {
    runtime_with_pasta(root, cgroup_parent, "pasta")
}

/// The same with the pasta binary `pasta`.
pub fn runtime_with_pasta(root: &Path, cgroup_parent: &str, pasta: &str) -> LocalRuntime {
    LocalRuntime::new(LocalConfig {
        root: root.to_path_buf(),
        bwrap: "bwrap".into(),
        cgroup_parent: cgroup_parent.into(),
        run_as: LocalConfig::default_user(),
        network: LocalNetwork::Isolated {
            pasta: pasta.into(),
            enter_namespaces: true,
        },
    })
    .unwrap()
}
