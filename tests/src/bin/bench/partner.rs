//! `partner`: provisioning through the HTTP adapter against the reference provider, vs the same
//! signed partner-API request sent to the provider directly; the difference is the broker's
//! overhead (HTTP in, journal writes, the adapter, the outcome's transaction, HTTP out).

use std::time::{Duration, Instant};

use addon_broker_tests::partner::{now, signature, ReferenceProvider};
use addon_broker_tests::{unique, TestApp};
use broker::auth::Scope;
use serde_json::json;

use crate::{median, ms, percentile};

/// Runs `n` paired measurements (after 20 warm-up pairs) and prints medians and p99s.
pub async fn run(app: &TestApp, n: usize) {
    let provider = ReferenceProvider::start("bench-partner", "BENCHP");
    let admin = app.api("bench", Scope::Admin);
    admin.post("/admin/providers", provider.manifest(&[])).await.expect(201);
    admin
        .post("/admin/providers/bench-partner/actions/approve", json!({}))
        .await
        .expect(200);
    let osb = app.osb();
    let plan = osb.plan("bench-partner", "basic").await;
    let client = reqwest::Client::new();
    let (mut through, mut direct, mut overhead) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n + 20 {
        let t = Instant::now();
        assert_eq!(provision_directly(&client, &provider, &unique("direct")).await, 200);
        let d = t.elapsed();
        let id = unique("partner");
        let t = Instant::now();
        osb.provision(&id, &plan, json!({}), false).await.expect(201);
        let b = t.elapsed();
        if i >= 20 {
            direct.push(d);
            through.push(b);
            overhead.push(b.saturating_sub(d));
        }
    }
    let show = |label: &str, v: &Vec<Duration>| {
        println!(
            "  {label}: median {:.3} ms, p99 {:.3} ms",
            ms(median(v.clone())),
            ms(percentile(v.clone(), 0.99))
        );
    };
    println!("partner provision (plan basic, synchronous 200 with config), {n} paired runs");
    show("directly to the provider (signed POST)", &direct);
    show("through the broker (OSB PUT, accepts_incomplete=false)", &through);
    show("broker overhead per request (pairwise difference)", &overhead);
    println!(
        "  overhead of the medians: {:.3} ms (target <= 2 ms)",
        ms(median(through)) - ms(median(direct))
    );
}

/// A direct, signed provision request to the provider (what the broker sends): the baseline.
async fn provision_directly(client: &reqwest::Client, provider: &ReferenceProvider, uuid: &str) -> u16 {
    let body = json!({
        "uuid": uuid, "plan": "basic", "callback_url": format!("http://127.0.0.1:1/provider/addons/{uuid}"),
        "name": uuid, "options": {}, "region": "us",
    });
    let bytes = serde_json::to_vec(&body).unwrap();
    client
        .post(format!("{}/heroku/resources", provider.url))
        .basic_auth(&provider.id, Some(&provider.password))
        .header("x-addon-signature", signature(&provider.password, now(), &bytes))
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
