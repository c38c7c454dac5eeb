//! Service instances: provision, update, deprovision and their async paths.

use super::*;

#[tokio::test]
async fn provision_returns_201_then_200_when_identical_and_409_when_different() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let large = osb.plan("postgresql", "shared-large").await;
    let id = unique("prov");
    osb.provision(&id, &plan, json!({"connection_limit": 5}), false)
        .await
        .expect(201);
    osb.provision(&id, &plan, json!({"connection_limit": 5}), false)
        .await
        .expect(200);
    osb.provision(&id, &plan, json!({"connection_limit": 5}), true)
        .await
        .expect(200);
    let r = osb
        .provision(&id, &plan, json!({"connection_limit": 6}), false)
        .await
        .expect(409);
    assert!(r.description().contains("different attributes"));
    osb.provision(&id, &large, json!({"connection_limit": 5}), false)
        .await
        .expect(409);

    let pg = PgInspector::connect().await;
    let db = database_name(&id);
    assert!(pg.database_exists(&db).await);
    assert!(pg.role_exists(&owner_role(&id)).await);
    assert_eq!(pg.connection_limit(&db).await, 5);
    // CONNECT is revoked from PUBLIC: only the owner role (and its members) may connect.
    let acl: String = pg
        .client()
        .query_one("SELECT datacl::text FROM pg_database WHERE datname = $1", &[&db])
        .await
        .unwrap()
        .get(0);
    assert!(
        !acl.contains("{=") && !acl.contains(",=c") && !acl.contains(",=Tc"),
        "{acl}"
    );
    assert!(acl.contains(&format!("{}=Tc", owner_role(&id))), "{acl}");
    // The database belongs to the broker's admin role, so no tenant can lift its limit.
    let dba: String = pg
        .client()
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&db],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(dba, "postgres");

    let r = osb.get(&format!("/v2/service_instances/{id}")).await.expect(200);
    assert_eq!(r.body["plan_id"], plan.plan_id);
    assert_eq!(r.body["parameters"]["connection_limit"], 5);
    assert_eq!(r.body["maintenance_info"]["version"], "1.0.0");
}

#[tokio::test]
async fn concurrent_identical_provisions_converge_on_one_instance() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("race");
    let replies = futures::future::join_all((0..8).map(|_| osb.provision(&id, &plan, json!({}), false))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert!(
        replies.iter().all(|r| r.status == 201 || r.status == 200),
        "{replies:?}"
    );
    assert!(created >= 1);
    assert!(PgInspector::connect().await.database_exists(&database_name(&id)).await);
    osb.provision(&id, &plan, json!({}), false).await.expect(200);
}

#[tokio::test]
async fn async_operations_answer_202_with_the_same_operation_and_exclude_each_other() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("async");
    let lock = PgInspector::hold_instance_lock(&id).await;

    let op = osb.provision(&id, &plan, json!({}), true).await.expect(202).operation();
    let again = osb.provision(&id, &plan, json!({}), true).await.expect(202).operation();
    assert_eq!(op, again);
    let r = osb.last_operation(&id, Some(&op)).await.expect(200);
    assert_eq!(r.body["state"], "in progress");
    assert_eq!(r.headers["retry-after"], "1");
    osb.get(&format!("/v2/service_instances/{id}")).await.expect(404);
    let r = osb
        .update(
            &id,
            json!({"service_id": plan.service_id, "parameters": {"connection_limit": 3}}),
            true,
        )
        .await
        .expect(422);
    assert_eq!(r.error_code(), Some("ConcurrencyError"));
    let r = osb.deprovision(&id, &plan, true).await.expect(422);
    assert_eq!(r.error_code(), Some("ConcurrencyError"));
    let r = osb.bind(&id, &unique("b"), &plan, json!({}), true).await.expect(422);
    assert_eq!(r.error_code(), Some("ConcurrencyError"));
    // A different request for the same id while provisioning is still a conflict.
    osb.provision(&id, &plan, json!({"connection_limit": 2}), true)
        .await
        .expect(409);

    drop(lock);
    let r = osb.wait_instance(&id, &op, WAIT).await;
    assert_eq!(r.body["state"], "succeeded", "{}", r.body);
    assert!(!r.headers.contains_key("retry-after"));
    osb.provision(&id, &plan, json!({}), false).await.expect(200);
    osb.get(&format!("/v2/service_instances/{id}")).await.expect(200);

    // While an update runs, fetching the instance is a ConcurrencyError (spec: fetch).
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb
        .update(
            &id,
            json!({"service_id": plan.service_id, "parameters": {"connection_limit": 4}}),
            true,
        )
        .await
        .expect(202)
        .operation();
    let r = osb.get(&format!("/v2/service_instances/{id}")).await.expect(422);
    assert_eq!(r.error_code(), Some("ConcurrencyError"));
    drop(lock);
    assert_eq!(osb.wait_instance(&id, &op, WAIT).await.body["state"], "succeeded");
    let r = osb.get(&format!("/v2/service_instances/{id}")).await.expect(200);
    assert_eq!(r.body["parameters"]["connection_limit"], 4);
}

#[tokio::test]
async fn a_sync_request_that_cannot_finish_in_time_gets_422_async_required() {
    let app = TestApp::spawn_with(Options {
        sync_timeout_ms: 500,
        ..Options::default()
    })
    .await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("slow");
    let lock = PgInspector::hold_instance_lock(&id).await;
    let r = osb.provision(&id, &plan, json!({}), false).await.expect(422);
    assert_eq!(r.error_code(), Some("AsyncRequired"));
    assert!(r.description().contains("accepts_incomplete=true"));
    // The operation goes on; the platform can switch to polling it.
    let op = osb.provision(&id, &plan, json!({}), true).await.expect(202).operation();
    drop(lock);
    assert_eq!(osb.wait_instance(&id, &op, WAIT).await.body["state"], "succeeded");
}

#[tokio::test]
async fn maintenance_info_that_does_not_match_the_plan_is_422_maintenance_info_conflict() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("maint");
    let body = json!({"service_id": plan.service_id, "plan_id": plan.plan_id, "organization_guid": "o",
                      "space_guid": "s", "maintenance_info": {"version": "0.9.0"}});
    let r = osb.provision_raw(&id, body, false).await.expect(422);
    assert_eq!(r.error_code(), Some("MaintenanceInfoConflict"));
    assert!(!PgInspector::connect().await.database_exists(&database_name(&id)).await);
    let body = json!({"service_id": plan.service_id, "plan_id": plan.plan_id, "organization_guid": "o",
                      "space_guid": "s", "maintenance_info": {"version": "1.0.0"}});
    osb.provision_raw(&id, body, false).await.expect(201);
    let r = osb
        .update(
            &id,
            json!({"service_id": plan.service_id, "maintenance_info": {"version": "2.0.0"}}),
            false,
        )
        .await
        .expect(422);
    assert_eq!(r.error_code(), Some("MaintenanceInfoConflict"));
}

#[tokio::test]
async fn parameters_that_violate_the_plan_schema_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let pg = PgInspector::connect().await;
    for (params, field) in [
        (json!({"connection_limit": "ten"}), "connection_limit"),
        (json!({"connection_limit": 21}), "connection_limit"),
        (json!({"connection_limit": 0}), "connection_limit"),
        (
            json!({"connection_limit": "1; DROP DATABASE postgres"}),
            "connection_limit",
        ),
        (json!({"extensions": ["plpython3u"]}), "extensions"),
        (json!({"x".repeat(10_000): 1}), "xxxx"),
    ] {
        let id = unique("schema");
        let r = osb.provision(&id, &plan, params.clone(), false).await.expect(400);
        assert!(r.description().contains(field), "{params}: {}", r.body);
        assert!(r.description().len() < 1_000, "messages stay short");
        assert!(!pg.database_exists(&database_name(&id)).await);
        assert!(!pg.role_exists(&owner_role(&id)).await);
    }
    let id = unique("schema");
    let r = osb.provision(&id, &plan, json!([1, 2]), false).await.expect(400);
    assert!(r.description().contains("parameters must be a JSON object"));
    // Binding parameters have a schema too (no properties at all).
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let r = osb
        .bind(&id, &unique("b"), &plan, json!({"role": "superuser"}), false)
        .await
        .expect(400);
    assert!(r.description().contains("role"), "{}", r.body);
}

#[tokio::test]
async fn a_plan_update_raises_the_connection_limit_and_an_impossible_downgrade_is_422() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let shared = osb.plan("postgresql", "shared").await;
    let large = osb.plan("postgresql", "shared-large").await;
    let pg = PgInspector::connect().await;
    let id = unique("upd");
    let db = database_name(&id);
    osb.provision(&id, &shared, json!({}), false).await.expect(201);
    assert_eq!(pg.connection_limit(&db).await, 20);

    osb.update(
        &id,
        json!({"service_id": shared.service_id, "plan_id": large.plan_id}),
        false,
    )
    .await
    .expect(200);
    assert_eq!(pg.connection_limit(&db).await, 100);
    let r = osb.get(&format!("/v2/service_instances/{id}")).await.expect(200);
    assert_eq!(r.body["plan_id"], large.plan_id);

    let op = osb
        .update(
            &id,
            json!({"service_id": shared.service_id, "parameters": {"connection_limit": 60}}),
            true,
        )
        .await
        .expect(202)
        .operation();
    assert_eq!(osb.wait_instance(&id, &op, WAIT).await.body["state"], "succeeded");
    assert_eq!(pg.connection_limit(&db).await, 60);

    let r = osb
        .update(
            &id,
            json!({"service_id": shared.service_id, "plan_id": shared.plan_id}),
            false,
        )
        .await
        .expect(422);
    assert!(r.description().contains("connection_limit 60 exceeds"), "{}", r.body);
    assert_eq!(pg.connection_limit(&db).await, 60, "nothing changed");
    // Lower the limit first, then the downgrade works.
    osb.update(
        &id,
        json!({"service_id": shared.service_id, "parameters": {"connection_limit": 10}}),
        false,
    )
    .await
    .expect(200);
    osb.update(
        &id,
        json!({"service_id": shared.service_id, "plan_id": shared.plan_id}),
        false,
    )
    .await
    .expect(200);
    assert_eq!(pg.connection_limit(&db).await, 10);

    // Updates name the instance's own service and a plan of it.
    osb.update(&id, json!({"service_id": "other"}), false).await.expect(400);
    osb.update(&id, json!({"service_id": shared.service_id, "plan_id": "nope"}), false)
        .await
        .expect(400);
    osb.update(&unique("missing"), json!({"service_id": shared.service_id}), false)
        .await
        .expect(404);
}

#[tokio::test]
async fn deprovision_returns_200_then_410_and_removes_the_database_and_roles() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let pg = PgInspector::connect().await;
    let id = unique("deprov");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201);
    osb.deprovision(&id, &plan, false).await.expect(200);
    assert!(!pg.database_exists(&database_name(&id)).await);
    assert!(!pg.role_exists(&owner_role(&id)).await);
    assert!(!pg.role_exists(&binding_role(&bid)).await);
    osb.deprovision(&id, &plan, false).await.expect(410);
    osb.get(&format!("/v2/service_instances/{id}")).await.expect(404);
    osb.deprovision(&unique("never"), &plan, true).await.expect(410);
    let r = osb.deprovision(&id, &plan, true).await.expect(410);
    assert!(r.description().contains("does not exist"));
}

#[tokio::test]
async fn an_async_deprovision_is_polled_and_last_operation_still_answers_succeeded_afterwards() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("adeprov");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb.deprovision(&id, &plan, true).await.expect(202).operation();
    assert_eq!(op, osb.deprovision(&id, &plan, true).await.expect(202).operation());
    drop(lock);
    assert_eq!(osb.wait_instance(&id, &op, WAIT).await.body["state"], "succeeded");
    // The tombstone keeps answering, with or without (or with a wrong) operation id.
    assert_eq!(
        osb.last_operation(&id, Some(&op)).await.expect(200).body["state"],
        "succeeded"
    );
    assert_eq!(
        osb.last_operation(&id, None).await.expect(200).body["state"],
        "succeeded"
    );
    assert_eq!(
        osb.last_operation(&id, Some("not-an-operation")).await.expect(200).body["state"],
        "succeeded"
    );
    assert!(!PgInspector::connect().await.database_exists(&database_name(&id)).await);
    osb.last_operation(&unique("never"), None).await.expect(404);
}
