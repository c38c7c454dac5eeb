//! The OSB v2.17 API of a real broker, over HTTP, against a real PostgreSQL server: the whole
//! status-code matrix, sync and async paths, auth and version errors, schema validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use addon_broker_tests::{connect_with_uri, unique, Options, PgInspector, TestApp};
use base64::Engine;
use providers::postgres::{binding_role, database_name, owner_role};
use reqwest::Method;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn catalog_offers_postgresql_shared_plans_with_draft04_schemas() {
    let app = TestApp::spawn().await;
    let catalog = app.osb().catalog().await;
    let service = &catalog["services"][0];
    assert_eq!(service["name"], "postgresql");
    assert_eq!(service["bindable"], true);
    assert_eq!(service["instances_retrievable"], true);
    assert_eq!(service["bindings_retrievable"], true);
    assert_eq!(service["plan_updateable"], true);
    let names: Vec<&str> = service["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shared", "shared-large"]);
    let schema = &service["plans"][0]["schemas"]["service_instance"]["create"]["parameters"];
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    assert_eq!(schema["properties"]["connection_limit"]["maximum"], 20);
    assert_eq!(service["plans"][0]["maintenance_info"]["version"], "1.0.0");
}

#[tokio::test]
async fn requests_without_valid_basic_auth_get_401_before_anything_else() {
    let app = TestApp::spawn().await;
    let mut osb = app.osb();
    osb.password = "wrong".into();
    let r = osb.get("/v2/catalog").await.expect(401);
    assert!(r.description().contains("basic auth"), "{}", r.body);
    assert!(r.headers.contains_key("www-authenticate"));
    // Auth is checked before the version: both wrong is 401, not 412.
    osb.version = Some("1.0".into());
    osb.get("/v2/catalog").await.expect(401);
    let raw = addon_broker_tests::api::http_client();
    for header in ["", "Bearer x", "Basic !!!", "Basic Zm9v"] {
        let r = raw
            .get(format!("{}/v2/catalog", app.url))
            .header("Authorization", header)
            .header("X-Broker-API-Version", "2.17")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "header {header:?}");
    }
    // A refused mutation made nothing.
    let id = unique("unauth");
    let plan = app.osb().plan("postgresql", "shared").await;
    osb.version = Some("2.17".into());
    osb.provision(&id, &plan, json!({}), false).await.expect(401);
    assert!(!PgInspector::connect().await.database_exists(&database_name(&id)).await);
}

#[tokio::test]
async fn requests_with_an_unsupported_api_version_get_412() {
    let app = TestApp::spawn().await;
    let mut osb = app.osb();
    for version in [None, Some("2.12"), Some("1.17"), Some("3.0"), Some("two"), Some("")] {
        osb.version = version.map(str::to_string);
        let r = osb.get("/v2/catalog").await.expect(412);
        assert!(r.description().contains("X-Broker-API-Version"), "{}", r.body);
    }
    for version in ["2.13", "2.16", "2.17"] {
        osb.version = Some(version.into());
        osb.get("/v2/catalog").await.expect(200);
    }
}

#[tokio::test]
async fn request_identity_is_echoed_and_originating_identity_is_audited() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("audit");
    let identity = base64::engine::general_purpose::STANDARD.encode(r#"{"user_id":"alice"}"#);
    let r = osb
        .send(
            osb.request(Method::PUT, &format!("/v2/service_instances/{id}"))
                .header("X-Broker-API-Request-Identity", "req-42")
                .header("X-Broker-API-Originating-Identity", format!("cloudfoundry {identity}"))
                .json(&json!({"service_id": plan.service_id, "plan_id": plan.plan_id,
                               "organization_guid": "o", "space_guid": "s"})),
        )
        .await
        .expect(201);
    assert_eq!(r.headers["x-broker-api-request-identity"], "req-42");
    assert!(r.headers.contains_key("request-id"));
    // Errors carry it too.
    let r = osb
        .send(
            osb.request(Method::GET, "/v2/service_instances/nope")
                .header("X-Broker-API-Request-Identity", "req-43"),
        )
        .await
        .expect(404);
    assert_eq!(r.headers["x-broker-api-request-identity"], "req-43");

    let target = format!("instance/{id}");
    let entries = app
        .state_db()
        .run(move |c| broker::db::models::AuditEntry::for_target(c, &target))
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "osb.provision");
    assert_eq!(entries[0].actor.as_deref(), Some(r#"cloudfoundry {"user_id":"alice"}"#));
}

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

#[tokio::test]
async fn bind_returns_working_credentials_and_unbind_revokes_only_that_binding() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("bind");
    let (b1, b2) = (unique("b1"), unique("b2"));
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let c1 = osb.bind(&id, &b1, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    let c2 = osb.bind(&id, &b2, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    for key in ["uri", "host", "port", "database", "username", "password"] {
        assert!(!c1[key].is_null(), "credentials carry {key}");
    }
    assert_eq!(c1["database"], database_name(&id));
    assert_ne!(c1["username"], c2["username"]);
    let uri1 = c1["uri"].as_str().unwrap();
    let uri2 = c2["uri"].as_str().unwrap();

    // Identical rebind: 200 with the same credentials; different attributes: 409.
    let again = osb.bind(&id, &b1, &plan, json!({}), false).await.expect(200);
    assert_eq!(again.body["credentials"], c1);
    let r = osb
        .get(&format!("/v2/service_instances/{id}/service_bindings/{b1}"))
        .await
        .expect(200);
    assert_eq!(r.body["credentials"], c1);
    let other = unique("other");
    osb.provision(&other, &plan, json!({}), false).await.expect(201);
    osb.bind(&other, &b1, &plan, json!({}), false).await.expect(409);

    // Both bindings share the data: what one creates the other can use.
    let one = connect_with_uri(uri1).await.unwrap();
    one.batch_execute("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('hello')")
        .await
        .unwrap();
    let two = connect_with_uri(uri2).await.unwrap();
    let row = two.query_one("SELECT body FROM notes", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "hello");
    two.execute("INSERT INTO notes VALUES ('from two')", &[]).await.unwrap();
    // Neither can reach another instance's database.
    let foreign = uri1.replace(&database_name(&id), &database_name(&other));
    assert!(connect_with_uri(&foreign).await.is_err());

    // Unbind b1: its open session is cut, its password stops working, b2 keeps working.
    osb.unbind(&id, &b1, &plan, false).await.expect(200);
    assert!(one.query_one("SELECT 1", &[]).await.is_err(), "session terminated");
    let Err(err) = connect_with_uri(uri1).await else {
        panic!("revoked credentials still connect")
    };
    assert!(
        err.to_string().contains("password authentication failed") || err.as_db_error().is_some(),
        "{err}"
    );
    let two_again = connect_with_uri(uri2).await.unwrap();
    let n: i64 = two_again
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2, "the data outlives the binding that wrote it");
    osb.unbind(&id, &b1, &plan, false).await.expect(410);
    osb.get(&format!("/v2/service_instances/{id}/service_bindings/{b1}"))
        .await
        .expect(404);
    assert!(!PgInspector::connect().await.role_exists(&binding_role(&b1)).await);
}

#[tokio::test]
async fn unbind_takes_over_objects_a_binding_owns_itself() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("own");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let creds = osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    let client = connect_with_uri(creds["uri"].as_str().unwrap()).await.unwrap();
    // Leave the shared owner role and create a table as the binding's own role.
    client
        .batch_execute("RESET ROLE; CREATE TABLE mine (x int); INSERT INTO mine VALUES (7)")
        .await
        .unwrap();
    drop(client);
    osb.unbind(&id, &bid, &plan, false).await.expect(200);
    assert!(!PgInspector::connect().await.role_exists(&binding_role(&bid)).await);
    let b2 = osb
        .bind(&id, &unique("b"), &plan, json!({}), false)
        .await
        .expect(201)
        .body["credentials"]
        .clone();
    let c2 = connect_with_uri(b2["uri"].as_str().unwrap()).await.unwrap();
    let x: i32 = c2.query_one("SELECT x FROM mine", &[]).await.unwrap().get(0);
    assert_eq!(x, 7);
}

#[tokio::test]
async fn async_bind_and_unbind_are_polled_through_the_binding_last_operation() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("abind");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb
        .bind(&id, &bid, &plan, json!({}), true)
        .await
        .expect(202)
        .operation();
    assert_eq!(
        op,
        osb.bind(&id, &bid, &plan, json!({}), true)
            .await
            .expect(202)
            .operation()
    );
    osb.get(&format!("/v2/service_instances/{id}/service_bindings/{bid}"))
        .await
        .expect(404);
    let r = osb.unbind(&id, &bid, &plan, true).await.expect(422);
    assert_eq!(r.error_code(), Some("ConcurrencyError"));
    let r = osb.deprovision(&id, &plan, true).await.expect(422);
    assert_eq!(r.error_code(), Some("ConcurrencyError"));
    drop(lock);
    assert_eq!(osb.wait_binding(&id, &bid, &op, WAIT).await.body["state"], "succeeded");
    let creds = osb
        .get(&format!("/v2/service_instances/{id}/service_bindings/{bid}"))
        .await
        .expect(200)
        .body;
    let uri = creds["credentials"]["uri"].as_str().unwrap().to_string();
    connect_with_uri(&uri).await.unwrap();

    let op = osb.unbind(&id, &bid, &plan, true).await.expect(202).operation();
    assert_eq!(osb.wait_binding(&id, &bid, &op, WAIT).await.body["state"], "succeeded");
    assert!(connect_with_uri(&uri).await.is_err());
}

#[tokio::test]
async fn hostile_ids_get_400_and_leave_nothing_behind() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let pg = PgInspector::connect().await;
    let hostile = [
        "'; DROP DATABASE postgres; --".to_string(),
        "\"quoted\"".to_string(),
        "a;b".to_string(),
        "x".repeat(10_000),
        "ünïcødé".to_string(),
        "tab\there".to_string(),
        "../etc".to_string(),
        " ".to_string(),
    ];
    for id in &hostile {
        let r = osb.provision(id, &plan, json!({}), false).await;
        assert_eq!(r.status, 400, "{id:.40}: {}", r.body);
        assert!(r.description().contains("instance_id"), "{}", r.body);
        assert!(!pg.database_exists(&database_name(id)).await);
        assert!(!pg.role_exists(&owner_role(id)).await);
        assert!(osb.last_operation(id, None).await.status.is_client_error());
        assert_eq!(osb.deprovision(id, &plan, false).await.status, 400);
    }
    // An empty id matches no endpoint: still a 4xx in the OSB format.
    let r = osb.provision("", &plan, json!({}), false).await.expect(404);
    assert!(r.description().contains("no such endpoint"), "{}", r.body);
    let id = unique("host");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let r = osb.bind(&id, "", &plan, json!({}), false).await.expect(404);
    assert!(r.description().contains("no such endpoint"), "{}", r.body);
    for bid in &hostile {
        let r = osb.bind(&id, bid, &plan, json!({}), false).await;
        assert_eq!(r.status, 400, "{bid:.40}: {}", r.body);
        assert!(!pg.role_exists(&binding_role(bid)).await);
    }
    assert_eq!(
        pg.client()
            .query_one("SELECT count(*) FROM pg_database WHERE datname = 'postgres'", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1
    );
}

#[tokio::test]
async fn malformed_bodies_and_empty_fields_get_400_in_the_osb_error_format() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("bad");
    let path = format!("/v2/service_instances/{id}");
    for body in ["", "{", "[]", "null", "\"x\"", "{\"service_id\": 5}"] {
        let r = osb
            .send(
                osb.request(Method::PUT, &path)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(r.status, 400, "body {body:?}");
        assert!(!r.description().is_empty());
    }
    for (field, value) in [
        ("service_id", ""),
        ("plan_id", ""),
        ("organization_guid", ""),
        ("space_guid", ""),
    ] {
        let mut body = json!({"service_id": plan.service_id, "plan_id": plan.plan_id,
                              "organization_guid": "o", "space_guid": "s"});
        body[field] = json!(value);
        let r = osb.provision_raw(&id, body.clone(), false).await.expect(400);
        assert_eq!(r.description(), format!("{field} is required"));
        body.as_object_mut().unwrap().remove(field);
        osb.provision_raw(&id, body, false).await.expect(400);
    }
    let r = osb
        .provision_raw(
            &id,
            json!({"service_id": "nope", "plan_id": plan.plan_id, "organization_guid": "o", "space_guid": "s"}),
            false,
        )
        .await
        .expect(400);
    assert!(r.description().contains("service_id"));
    let r = osb
        .provision_raw(
            &id,
            json!({"service_id": plan.service_id, "plan_id": "nope", "organization_guid": "o", "space_guid": "s"}),
            false,
        )
        .await
        .expect(400);
    assert!(r.description().contains("plan_id"));
    let r = osb
        .send(
            osb.request(Method::PUT, &format!("{path}?accepts_incomplete=maybe"))
                .json(&json!({})),
        )
        .await
        .expect(400);
    assert!(r.description().contains("accepts_incomplete"));
    let r = osb.send(osb.request(Method::DELETE, &path)).await.expect(400);
    assert!(r.description().contains("service_id"));
    assert!(!PgInspector::connect().await.database_exists(&database_name(&id)).await);
}

#[tokio::test]
async fn bindings_need_a_provisioned_instance_of_the_same_plan() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let large = osb.plan("postgresql", "shared-large").await;
    let id = unique("needs");
    osb.bind(&id, &unique("b"), &plan, json!({}), false).await.expect(404);
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    osb.bind(&id, &unique("b"), &large, json!({}), false).await.expect(400);
    osb.unbind(&id, &unique("b"), &plan, false).await.expect(410);
    osb.get(&format!("/v2/service_instances/{id}/service_bindings/none"))
        .await
        .expect(404);
}
