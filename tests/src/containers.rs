//! The dyno runtime of a broker under test, opened directly as a restarted broker would open
//! it: what the tests and benchmarks check containers with, beside the API.

use crate::TestApp;

impl TestApp {
    /// The dyno runtime over this broker's containers, opened directly (as a restarted broker
    /// would).
    pub fn runtime(&self) -> runtime::local::LocalRuntime {
        let isolated = runtime::network::LocalNetwork::Isolated {
            pasta: "pasta".into(),
            enter_namespaces: true,
        };
        runtime_at(&self.dir.path().join("dynos"), isolated)
    }
}

/// A runtime of the harness's kind (the broker's user, cgroup and dyno user) over `root`, its
/// containers on `network`: a benchmark runs containers beside the broker's, in a root of their
/// own (the broker stops containers of its root that belong to no app).
pub fn runtime_at(root: &std::path::Path, network: runtime::network::LocalNetwork) -> runtime::local::LocalRuntime {
    runtime::local::LocalRuntime::new(runtime::local::LocalConfig {
        root: root.to_path_buf(),
        bwrap: "bwrap".into(),
        cgroup_parent: crate::TEST_CGROUP.into(),
        run_as: runtime::local::LocalConfig::default_user(),
        network,
    })
    .unwrap()
}

impl TestApp {
    /// How many of this broker's containers run (as the runtime itself sees them).
    pub async fn runtime_running(&self) -> usize {
        use runtime::Runtime;
        // Stops happen in the background: allow them the grace period to finish.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let rt = self.runtime();
        let mut last = 0;
        while std::time::Instant::now() < deadline {
            let running = rt.list().await.unwrap().iter().filter(|c| c.running()).count();
            if running == last {
                return running;
            }
            last = running;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        last
    }
}
