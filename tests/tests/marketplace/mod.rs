//! Third-party providers end to end: a reference partner (a real HTTP server in this process)
//! registered, approved and called by a real broker; callbacks signed and checked; a second
//! broker of ours federated over OSB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use addon_broker_tests::partner::{now, signature, ReferenceProvider};
use addon_broker_tests::{connect_with_uri, Api, Options, TestApp};
use broker::auth::Scope;
use reqwest::Method;
use serde_json::{json, Value};

mod callbacks;
mod federation;
mod registration;

fn options() -> Options {
    Options {
        runtime_backend: "none",
        ..Options::default()
    }
}

struct Market {
    app: TestApp,
    admin: Api,
    platform: Api,
}

async fn market(options: Options) -> Market {
    let app = TestApp::spawn_with(options).await;
    let admin = app.api("operator", Scope::Admin);
    let platform = app.api("alice", Scope::Platform);
    Market { app, admin, platform }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A reference provider with a unique id and prefix, registered and approved.
async fn approved(m: &Market, requires: &[&str]) -> ReferenceProvider {
    let id = unique("ref-");
    let prefix = format!("REF{}", &id[4..].to_ascii_uppercase());
    let p = ReferenceProvider::start(&id, &prefix);
    m.admin.post("/admin/providers", p.manifest(requires)).await.expect(201);
    m.admin
        .post(&format!("/admin/providers/{id}/actions/approve"), json!({}))
        .await
        .expect(200);
    p
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}
