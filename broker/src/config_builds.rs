//! Build settings (`[builds]`): the sandbox limits of a build, where packages come from, and
//! which host directories may hold buildpacks.

use serde::{Deserialize, Serialize};

/// How builds run.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuildSettings {
    /// Longest build (ms): compiling, not counting the release phase; longer fails the build.
    pub timeout_ms: u64,
    /// Memory of a build's sandbox (MiB).
    pub memory_mb: u64,
    /// Processes and threads of a build's sandbox at once.
    pub max_processes: u64,
    /// The Python package index builds install from (`PIP_INDEX_URL`); empty: pip's default.
    /// May carry credentials: never printed.
    pub pip_index_url: String,
    /// The npm registry builds install from (`npm_config_registry`); empty: npm's default.
    pub npm_registry: String,
    /// Host directories under which an app may name a buildpack by path (`/srv/buildpacks`);
    /// a path elsewhere is refused, so that nobody mounts the broker's files into a build.
    pub buildpack_paths: Vec<String>,
    /// Largest buildpack archive fetched from a URL (bytes).
    pub max_buildpack_bytes: usize,
    /// Whether buildpack archive URLs may point at this host (tests and development).
    pub allow_loopback_buildpacks: bool,
    /// Whether builds may open connections beyond this host (package registries on the
    /// internet); never to the host, except the loopback ports of `pip_index_url` and
    /// `npm_registry`.
    pub egress: bool,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            timeout_ms: 900_000,
            memory_mb: 2048,
            max_processes: 2048,
            pip_index_url: String::new(),
            npm_registry: String::new(),
            buildpack_paths: Vec::new(),
            max_buildpack_bytes: 50 << 20,
            allow_loopback_buildpacks: false,
            egress: true,
        }
    }
}

impl std::fmt::Debug for BuildSettings {
    // Index URLs may hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &str| if s.is_empty() { "<default>" } else { "<set>" };
        f.debug_struct("BuildSettings")
            .field("timeout_ms", &self.timeout_ms)
            .field("memory_mb", &self.memory_mb)
            .field("max_processes", &self.max_processes)
            .field("pip_index_url", &set(&self.pip_index_url))
            .field("npm_registry", &set(&self.npm_registry))
            .field("buildpack_paths", &self.buildpack_paths)
            .field("max_buildpack_bytes", &self.max_buildpack_bytes)
            .field("allow_loopback_buildpacks", &self.allow_loopback_buildpacks)
            .field("egress", &self.egress)
            .finish()
    }
}
