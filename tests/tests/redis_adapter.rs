//! Redis specifics beyond the conformance suite: an open session is cut at unbind, and
//! deprovision removes every key of the prefix in batches (several SCAN rounds) while a
//! neighbour's keys stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use addon_broker_tests::{redis_admin, unique, TestApp};
use providers::redis::key_prefix;
use serde_json::json;

#[tokio::test]
async fn unbind_cuts_open_sessions_of_the_binding() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("redis", "shared").await;
    let id = unique("rsess");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let creds = osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    // A plain (non-reconnecting) connection, so a cut session stays cut.
    let client = redis::Client::open(creds["uri"].as_str().unwrap()).unwrap();
    let mut session = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}k", creds["prefix"].as_str().unwrap());
    redis::cmd("SET")
        .arg(&key)
        .arg("v")
        .query_async::<()>(&mut session)
        .await
        .unwrap();

    osb.unbind(&id, &bid, &plan, false).await.expect(200);
    let after = redis::cmd("GET")
        .arg(&key)
        .query_async::<Option<String>>(&mut session)
        .await;
    assert!(after.is_err(), "the open session was cut: {after:?}");
    let Err(err) = client.get_multiplexed_async_connection().await else {
        panic!("new sessions are refused")
    };
    assert!(
        err.to_string().to_lowercase().contains("authentication failed"),
        "{err}"
    );
}

#[tokio::test]
async fn deprovision_unlinks_every_key_of_the_prefix_in_batches_and_keeps_neighbours() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("redis", "shared").await;
    let (a, b) = (unique("rmany"), unique("rkeep"));
    osb.provision(&a, &plan, json!({}), false).await.expect(201);
    osb.provision(&b, &plan, json!({}), false).await.expect(201);
    let mut admin = redis_admin().await;
    let mut pipe = redis::pipe();
    for i in 0..2_500 {
        pipe.cmd("SET").arg(format!("{}k{i}", key_prefix(&a))).arg(i).ignore();
    }
    pipe.cmd("SET").arg(format!("{}kept", key_prefix(&b))).arg("x").ignore();
    pipe.query_async::<()>(&mut admin).await.unwrap();

    osb.deprovision(&a, &plan, false).await.expect(200);
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", key_prefix(&a)))
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(left.is_empty(), "{} keys left", left.len());
    let kept: Option<String> = redis::cmd("GET")
        .arg(format!("{}kept", key_prefix(&b)))
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("x"));
}
