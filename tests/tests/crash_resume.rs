//! A broker killed with SIGKILL in the middle of an operation, then restarted on the same state
//! store, finishes every operation it had open, and the backend ends up as if nothing happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use addon_broker_tests::{connect_with_uri, unique, Options, PgInspector, TestApp};
use providers::postgres::{binding_role, database_name, owner_role};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn short_leases() -> Options {
    // A dead broker's lease lapses after a second, so the restarted one takes over quickly.
    Options {
        lease_ms: 1_000,
        ..Options::default()
    }
}

/// Waits until a session is blocked on this instance's advisory lock: the provider is then
/// provably in the middle of its work.
async fn wait_until_provider_blocks(pg: &PgInspector, instance_id: &str) {
    let (class, key) = providers::postgres::advisory_lock_key(instance_id);
    let (class, key) = ((class as u32).to_string(), (key as u32).to_string());
    for _ in 0..200 {
        let n: i64 = pg
            .client()
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                 AND classid::text = $1 AND objid::text = $2",
                &[&class, &key],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the provider never reached the backend");
}

#[tokio::test]
async fn a_broker_killed_mid_provision_finishes_it_after_a_restart() {
    let mut app = TestApp::spawn_with(short_leases()).await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let pg = PgInspector::connect().await;
    let id = unique("crash-prov");
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb.provision(&id, &plan, json!({}), true).await.expect(202).operation();
    wait_until_provider_blocks(&pg, &id).await;
    app.kill();
    drop(lock);

    app.start();
    let osb = app.osb();
    let r = osb.wait_instance(&id, &op, WAIT).await;
    assert_eq!(r.body["state"], "succeeded", "{}", r.body);
    assert!(pg.database_exists(&database_name(&id)).await);
    osb.provision(&id, &plan, json!({}), false).await.expect(200);
    let creds = osb
        .bind(&id, &unique("b"), &plan, json!({}), false)
        .await
        .expect(201)
        .body["credentials"]
        .clone();
    connect_with_uri(creds["uri"].as_str().unwrap()).await.unwrap();
}

#[tokio::test]
async fn a_broker_killed_mid_bind_finishes_it_after_a_restart_with_working_credentials() {
    let mut app = TestApp::spawn_with(short_leases()).await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let pg = PgInspector::connect().await;
    let id = unique("crash-bind");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb
        .bind(&id, &bid, &plan, json!({}), true)
        .await
        .expect(202)
        .operation();
    wait_until_provider_blocks(&pg, &id).await;
    app.kill();
    drop(lock);

    app.start();
    let osb = app.osb();
    assert_eq!(osb.wait_binding(&id, &bid, &op, WAIT).await.body["state"], "succeeded");
    let r = osb
        .get(&format!("/v2/service_instances/{id}/service_bindings/{bid}"))
        .await
        .expect(200);
    let client = connect_with_uri(r.body["credentials"]["uri"].as_str().unwrap())
        .await
        .unwrap();
    client.batch_execute("CREATE TABLE t (x int)").await.unwrap();
}

#[tokio::test]
async fn a_broker_killed_mid_deprovision_finishes_it_after_a_restart_without_leftovers() {
    let mut app = TestApp::spawn_with(short_leases()).await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let pg = PgInspector::connect().await;
    let id = unique("crash-deprov");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201);
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb.deprovision(&id, &plan, true).await.expect(202).operation();
    wait_until_provider_blocks(&pg, &id).await;
    app.kill();
    drop(lock);

    app.start();
    let osb = app.osb();
    assert_eq!(osb.wait_instance(&id, &op, WAIT).await.body["state"], "succeeded");
    assert!(!pg.database_exists(&database_name(&id)).await);
    assert!(!pg.role_exists(&owner_role(&id)).await);
    assert!(!pg.role_exists(&binding_role(&bid)).await);
    osb.deprovision(&id, &plan, false).await.expect(410);
}

#[tokio::test]
async fn sigterm_stops_the_broker_gracefully() {
    let mut app = TestApp::spawn().await;
    app.osb().catalog().await;
    let status = app.terminate();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_provider_call_that_hangs_is_cut_off_and_retried() {
    let app = TestApp::spawn_with(Options {
        provider_timeout_ms: 400,
        // Every attempt is cut off while the lock is held; on a busy machine the test may see
        // that late, so attempts must not run out before it lets go.
        max_attempts: 1_000,
        ..Options::default()
    })
    .await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("hang");
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb.provision(&id, &plan, json!({}), true).await.expect(202).operation();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = osb.last_operation(&id, Some(&op)).await.expect(200);
        assert_eq!(r.body["state"], "in progress");
        if r.body["description"]
            .as_str()
            .is_some_and(|d| d.contains("did not answer within 400 ms"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hung call was never cut off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(lock);
    assert_eq!(osb.wait_instance(&id, &op, WAIT).await.body["state"], "succeeded");
    assert!(PgInspector::connect().await.database_exists(&database_name(&id)).await);
}

#[tokio::test]
async fn a_restarted_broker_resumes_its_own_leases_at_once_and_a_replica_waits_for_them() {
    // Leases far longer than the test: only the node's own recognition can resume the work.
    let mut app = TestApp::spawn_with(Options {
        lease_ms: 600_000,
        ..Options::default()
    })
    .await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let pg = PgInspector::connect().await;
    let id = unique("resume-own");
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb.provision(&id, &plan, json!({}), true).await.expect(202).operation();
    wait_until_provider_blocks(&pg, &id).await;
    app.kill();
    drop(lock);

    // Another node on the same store leaves the dead broker's lease alone: it may be alive
    // behind a network fault, and two runs of one operation must never overlap. Several of
    // the replica's polls (500 ms apart) pass in this window.
    let replica = app.replica();
    let r_osb = replica.osb();
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < watch_until {
        let r = r_osb.last_operation(&id, Some(&op)).await.expect(200);
        assert_eq!(
            r.body["state"], "in progress",
            "a replica took over a live lease: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!pg.database_exists(&database_name(&id)).await);

    // The same node restarted knows the lease as its previous run's and resumes at once.
    app.start();
    let r = app.osb().wait_instance(&id, &op, WAIT).await;
    assert_eq!(r.body["state"], "succeeded", "{}", r.body);
    assert!(pg.database_exists(&database_name(&id)).await);
    let log = std::fs::read_to_string(app.log_path()).unwrap();
    assert!(
        log.contains("resuming the operations this broker's previous run left"),
        "{log}"
    );
}
