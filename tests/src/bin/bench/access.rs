//! `access`: what an authenticated `GET /apps/{app}` costs per request, for the owner and for a
//! collaborator, on each state backend, beside `GET /healthz` (the same HTTP round trip with no
//! token and no store) as the floor. Run it with the binary of an older commit
//! (`BROKER_BIN=…`) to compare before and after the access check and the token lookup.

use std::time::{Duration, Instant};

use addon_broker_tests::{Api, Options, StateBackend, TestApp};
use broker::auth::Scope;
use serde_json::json;

use crate::{median, ms, percentile};

async fn timed(api: &Api, path: &str, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 50 {
        let t = Instant::now();
        let r = api.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        // The first requests warm pools and caches; they are not counted.
        if i >= 50 {
            times.push(t.elapsed());
        }
    }
    times
}

fn line(what: &str, times: Vec<Duration>) {
    let (m, p99) = (median(times.clone()), percentile(times, 0.99));
    println!("  {what}: median {:.3} ms, p99 {:.3} ms", ms(m), ms(p99));
}

/// Runs the measurement on SQLite and on PostgreSQL state, `n` requests per row.
pub async fn run(n: usize) {
    for state in [StateBackend::Sqlite, StateBackend::Postgres] {
        let app = TestApp::spawn_with(Options {
            state,
            runtime_backend: "none",
            ..Options::default()
        })
        .await;
        let alice = app.api("alice", Scope::Platform);
        let name = alice.create_app().await;
        println!("GET /apps/{{app}}, {n} sequential requests, state {state:?}");
        line(
            "GET /healthz (floor: no token, no store)",
            timed(&alice, "/healthz", n).await,
        );
        line("owner", timed(&alice, &format!("/apps/{name}"), n).await);
        let shared = alice
            .post(&format!("/apps/{name}/collaborators"), json!({ "user": "carol" }))
            .await;
        if shared.status == 201 {
            let carol = app.api("carol", Scope::Platform);
            line("collaborator", timed(&carol, &format!("/apps/{name}"), n).await);
        } else {
            println!("  collaborator: this binary has no collaborators ({})", shared.status);
        }
    }
}
