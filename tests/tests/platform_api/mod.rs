//! The platform API over HTTP with real backing servers: apps, config vars, releases,
//! `addons:create` for all three services with credentials a real client uses, attachments,
//! destruction, domains, auth and pagination.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use addon_broker_tests::{connect_with_uri, kafka, redis_works, Api, TestApp};
use broker::auth::Scope;
use serde_json::{json, Value};

mod addon_names;
mod addons;
mod config;
mod domains;
mod topics;

fn var<'a>(config: &'a serde_json::Map<String, Value>, name: &str) -> &'a str {
    config
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{name} in {config:?}"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn tokens_are_checked_with_clear_401_and_403_answers() {
    let app = TestApp::spawn().await;
    let mut api = app.platform();
    api.get("/apps").await.expect(200);
    for (token, needle) in [
        (None, "missing Authorization"),
        (Some("not-a-jwt".to_string()), "malformed"),
        (
            Some(
                broker::auth::TokenKeys::from_secret(&[9u8; 32])
                    .unwrap()
                    .mint("id", "x", Scope::Admin, now(), now() + 60)
                    .unwrap(),
            ),
            "signature",
        ),
        (
            Some(
                broker::auth::TokenKeys::from_secret(addon_broker_tests::JWT_SECRET.as_bytes())
                    .unwrap()
                    .mint("id", "x", Scope::Platform, now() - 60, now() - 5)
                    .unwrap(),
            ),
            "expired",
        ),
    ] {
        api.token = token;
        let r = api.get("/apps").await.expect(401);
        assert_eq!(r.error_id(), "unauthorized");
        assert!(r.message().contains(needle), "{}", r.body);
        assert!(r.headers.contains_key("request-id"));
    }
    let platform = app.platform();
    let r = platform.get("/admin/audit").await.expect(403);
    assert!(r.message().contains("scope admin"), "{}", r.body);
    app.api("root", Scope::Admin).get("/admin/audit").await.expect(200);
}

#[tokio::test]
async fn apps_are_created_named_renamed_paged_and_hostile_names_refused() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let generated = api.post("/apps", json!({})).await.expect(201).body;
    let name = generated["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("app-"));
    assert_eq!(generated["owner"], "alice");
    assert!(generated["created_at"].as_str().unwrap().ends_with('Z'));
    let by_id = api
        .get(&format!("/apps/{}", generated["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(by_id.body["name"], name.as_str());
    api.post("/apps", json!({ "name": name })).await.expect(409);
    for hostile in ["Ab", "a", "1abc", "a_b", "a;drop", "ünï", &"a".repeat(31), ""] {
        let r = api.post("/apps", json!({ "name": hostile })).await.expect(400);
        assert!(r.message().contains("app name"), "{}", r.body);
    }
    api.post("/apps", json!({ "name": "ok-name", "stack": "x" }))
        .await
        .expect(400);
    api.post("/apps", json!(["x"])).await.expect(400);
    let renamed = format!("{name}-x");
    api.patch(&format!("/apps/{name}"), json!({ "name": renamed }))
        .await
        .expect(200);
    api.get(&format!("/apps/{name}")).await.expect(404);
    api.get(&format!("/apps/{renamed}")).await.expect(200);

    for _ in 0..3 {
        api.create_app().await;
    }
    let first = api
        .send(
            api.request(reqwest::Method::GET, "/apps")
                .header("Range", "name ..; max=2"),
        )
        .await
        .expect(206);
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    let next = first.headers["next-range"].to_str().unwrap().to_string();
    assert!(next.starts_with("name ]"), "{next}");
    let second = api
        .send(api.request(reqwest::Method::GET, "/apps").header("Range", &next))
        .await;
    assert!(second.status == 200 || second.status == 206);
    let names: Vec<&str> = first
        .body
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body.as_array().unwrap())
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "pages continue in order");
    assert!(names.len() >= 4);
    api.send(api.request(reqwest::Method::GET, "/apps").header("Range", "color .."))
        .await
        .expect(400);
}

#[tokio::test]
async fn oversized_bodies_and_wrong_methods_get_errors_in_the_api_format() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let big = vec![b' '; 2 << 20];
    let r = api
        .send(
            api.request(reqwest::Method::PATCH, &format!("/apps/{name}/config-vars"))
                .header("content-type", "application/json")
                .body(big.clone()),
        )
        .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert_eq!(r.body["id"], "payload_too_large");
    assert!(r.body["message"].as_str().unwrap().contains("1 MiB"));
    assert!(r.headers.contains_key("request-id"));
    // Nothing was written.
    assert!(api.config(&name).await.is_empty());

    let r = addon_broker_tests::api::http_client()
        .put(format!("{}/v2/service_instances/big-1", app.url))
        .basic_auth(&app.user, Some(&app.password))
        .header("X-Broker-API-Version", "2.17")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["description"].as_str().unwrap().contains("too large"), "{body}");

    let r = api.send(api.request(reqwest::Method::PUT, "/apps")).await;
    assert_eq!(r.status, 405, "{:?}", r.body);
    assert_eq!(r.body["id"], "method_not_allowed");
}
