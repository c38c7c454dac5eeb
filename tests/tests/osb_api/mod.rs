//! The OSB v2.17 API of a real broker, over HTTP, against a real PostgreSQL server: the whole
//! status-code matrix, sync and async paths, auth and version errors, schema validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use addon_broker_tests::{connect_with_uri, unique, Options, PgInspector, TestApp};
use base64::Engine;
use providers::postgres::{binding_role, database_name, owner_role};
use reqwest::Method;
use serde_json::json;

mod bindings;
mod input;
mod instances;

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
