//! Backends that go away and come back: the broker answers 503 with `Retry-After` while its
//! state store is down, logs the outage once, and serves again within seconds of its return;
//! a Redis restart under the `redis` service is recovered from within seconds too. Each test
//! owns the server it stops (the shared ones serve the other suites meanwhile).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use addon_broker_tests::{blocking, broker_on_own_state_store, redis_works, unique, Options, TestApp};
use broker::devservers::RedisServer;
use serde_json::json;

/// A generous bound on recovery, far above the 1–2 s it takes and far below the minutes it
/// took before pools validated their connections.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

#[tokio::test]
async fn while_the_state_store_is_down_requests_get_503_and_after_it_returns_they_succeed_within_seconds() {
    let (app, mut pg) = broker_on_own_state_store().await;
    let api = app.platform();
    api.create_app().await;
    let osb = app.osb();
    let plan = osb.plan("redis", "shared").await;

    let mut pg = blocking(move || {
        pg.stop();
        pg
    })
    .await;
    let r = osb.provision(&unique("down"), &plan, json!({}), true).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "2");
    assert!(r.description().contains("state store is unreachable"), "{}", r.body);
    let r = api.post("/apps", json!({})).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error_id(), "unavailable");
    assert_eq!(r.headers["retry-after"], "2");
    // Outage time for the background loops (the supervisor ticks every 50 ms).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let pg = blocking(move || {
        pg.restart().unwrap();
        pg
    })
    .await;
    let back = Instant::now();
    loop {
        let r = api.post("/apps", json!({})).await;
        if r.status == 201 {
            break;
        }
        assert_eq!(r.status, 503, "only 503 while reconnecting: {}", r.body);
        assert!(
            back.elapsed() < RECOVERY_BOUND,
            "still failing {:?} after the state store returned",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = unique("back");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);

    let log = std::fs::read_to_string(app.log_path()).unwrap();
    assert_eq!(
        log.matches("the state store is unreachable").count(),
        1,
        "the outage is logged once:\n{log}"
    );
    assert!(log.contains("the state store is reachable again"), "{log}");
    let warnings = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .count();
    assert!(
        warnings < 10,
        "the outage flooded the log ({warnings} warnings):\n{log}"
    );
    drop(pg);
}

#[tokio::test]
async fn after_a_redis_restart_a_bind_succeeds_within_seconds_and_old_credentials_still_work() {
    let redis = blocking(|| RedisServer::start().unwrap()).await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(redis.url()),
        // Long enough for the bind's first attempts to fail against the stopped server.
        sync_timeout_ms: 15_000,
        ..Options::default()
    })
    .await;
    let osb = app.osb();
    let plan = osb.plan("redis", "shared").await;
    let (id, before) = osb.bound(&plan, "redis-restart").await;

    // While Redis is down, a synchronous bind is told to come back (not to go asynchronous).
    let mut redis = blocking(move || {
        let mut redis = redis;
        redis.stop();
        redis
    })
    .await;
    let r = osb.bind(&id, &unique("down"), &plan, json!({}), false).await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(r.headers["retry-after"], "2");
    assert!(
        r.body["description"]
            .as_str()
            .unwrap()
            .contains("waiting for its backend"),
        "{:?}",
        r.body
    );

    let redis = blocking(move || {
        redis.restart().unwrap();
        redis
    })
    .await;
    let back = Instant::now();
    let after = osb
        .bind(&id, &unique("b"), &plan, json!({}), false)
        .await
        .expect(201)
        .body["credentials"]
        .clone();
    assert!(
        back.elapsed() < RECOVERY_BOUND,
        "a bind after the restart took {:?}",
        back.elapsed()
    );
    for creds in [&before, &after] {
        let (uri, prefix) = (creds["uri"].as_str().unwrap(), creds["prefix"].as_str().unwrap());
        redis_works(uri, prefix)
            .await
            .expect("the credentials work after the restart");
    }
    drop(redis);
}
