//! Redis specifics beyond the conformance suite: an open session is cut at unbind, and
//! deprovision removes every key of the prefix in batches (several SCAN rounds) while a
//! neighbour's keys stay; attempts of one bind that race converge on one password.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use addon_broker_tests::{redis_admin, servers, unique, TestApp};
use providers::redis::{key_prefix, RedisConfig, RedisProvider};
use providers::{BindRequest, Outcome, Provider};
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

/// A lease that lapses under load lets a second attempt of a bind start while the first is
/// still running; whichever `ACL SETUSER` lands last must set the password that is stored.
#[tokio::test]
async fn racing_attempts_of_one_bind_converge_on_one_working_password() {
    let config = RedisConfig {
        url: servers().redis.url(),
        public_host: None,
        public_port: None,
    };
    let provider = RedisProvider::new(&config).unwrap();
    let plan = provider
        .service()
        .plans
        .iter()
        .find(|p| p.name == "shared")
        .unwrap()
        .clone();
    let request = BindRequest {
        instance_id: unique("rrace"),
        binding_id: unique("b"),
        plan,
        instance_parameters: json!({}),
        parameters: json!({}),
        instance_config: None,
        password: "fixed-for-this-operation-0123456789".into(),
    };
    // Separate providers, as two brokers (or two runs) would have.
    let attempts = (0..6).map(|_| {
        let request = request.clone();
        let config = config.clone();
        tokio::spawn(async move { RedisProvider::new(&config).unwrap().bind(&request).await })
    });
    let mut uris = Vec::new();
    for attempt in futures::future::join_all(attempts).await {
        let Outcome::Done(creds) = attempt.unwrap().unwrap() else {
            panic!("a shared-plan bind finishes at once")
        };
        uris.push(creds.values["uri"].as_str().unwrap().to_string());
    }
    uris.dedup();
    assert_eq!(uris.len(), 1, "every attempt hands out the same credentials: {uris:?}");
    let client = redis::Client::open(uris[0].as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}k", key_prefix(&request.instance_id));
    redis::cmd("SET")
        .arg(&key)
        .arg("v")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    provider
        .unbind(&providers::UnbindRequest {
            instance_id: request.instance_id.clone(),
            binding_id: request.binding_id.clone(),
            plan: request.plan.clone(),
        })
        .await
        .unwrap();
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut redis_admin().await)
        .await
        .unwrap();
}
