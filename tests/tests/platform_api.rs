//! The platform API over HTTP with real backing servers: apps, config vars, releases,
//! `addons:create` for all three services with credentials a real client uses, attachments,
//! destruction, auth and pagination.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use addon_broker_tests::{connect_with_uri, kafka, Api, TestApp};
use broker::auth::Scope;
use serde_json::{json, Value};

fn var<'a>(config: &'a serde_json::Map<String, Value>, name: &str) -> &'a str {
    config
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{name} in {config:?}"))
}

async fn redis_works(url: &str, prefix: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    redis::cmd("SET")
        .arg(format!("{prefix}k"))
        .arg("v")
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| e.to_string())
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
                    .mint("x", Scope::Admin, 60)
                    .unwrap(),
            ),
            "signature",
        ),
        (
            Some(
                broker::auth::TokenKeys::from_secret(addon_broker_tests::JWT_SECRET.as_bytes())
                    .unwrap()
                    .mint("x", Scope::Platform, -5)
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
async fn config_var_changes_make_exactly_one_release_each_and_roll_back() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let path = format!("/apps/{name}/config-vars");
    let r = api.patch(&path, json!({ "FOO": "1", "BAR": "2" })).await.expect(200);
    assert_eq!(r.body, json!({ "FOO": "1", "BAR": "2" }));
    api.patch(&path, json!({ "FOO": "1" })).await.expect(200);
    api.patch(&path, json!({ "NOPE": null })).await.expect(200);
    api.patch(&path, json!({ "FOO": null })).await.expect(200);
    for bad in [
        json!({ "1BAD": "x" }),
        json!({ "A-B": "x" }),
        json!({ "A": 5 }),
        json!({ "A": true }),
        json!([1]),
    ] {
        assert_eq!(api.patch(&path, bad.clone()).await.status, 400, "{bad}");
    }
    let r = api
        .post(&format!("/apps/{name}/releases"), json!({ "release": 2 }))
        .await
        .expect(201);
    assert_eq!(r.body["version"], 4);
    assert_eq!(r.body["description"], "Rollback to v2");
    let releases = api.releases(&name).await;
    let described: Vec<(i64, &str)> = releases
        .iter()
        .map(|r| (r["version"].as_i64().unwrap(), r["description"].as_str().unwrap()))
        .collect();
    assert_eq!(
        described,
        [
            (1, "Initial release"),
            (2, "Set BAR, FOO config vars"),
            (3, "Unset FOO config vars"),
            (4, "Rollback to v2")
        ]
    );
    assert_eq!(releases.iter().filter(|r| r["current"] == true).count(), 1);
    assert_eq!(releases[3]["current"], true);
    assert_eq!(
        api.config(&name).await,
        json!({ "FOO": "1", "BAR": "2" }).as_object().unwrap().clone()
    );
    let v2 = api.get(&format!("/apps/{name}/releases/2")).await.expect(200);
    assert_eq!(v2.body["config_vars"]["FOO"], "1");
    let by_id = api
        .get(&format!("/apps/{name}/releases/{}", v2.body["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(by_id.body["version"], 2);
    // Someone else's platform token sees the keys but not the values; an admin sees both.
    let bob = app
        .api("bob", Scope::Platform)
        .get(&format!("/apps/{name}/releases/2"))
        .await
        .expect(200);
    assert_eq!(bob.body["config_vars"], json!({ "FOO": null, "BAR": null }));
    let admin = app
        .api("root", Scope::Admin)
        .get(&format!("/apps/{name}/releases/2"))
        .await
        .expect(200);
    assert_eq!(admin.body["config_vars"]["BAR"], "2");
    api.get(&format!("/apps/{name}/releases/99")).await.expect(404);
    // Paging by version is numeric.
    let page = api
        .send(
            api.request(reqwest::Method::GET, &format!("/apps/{name}/releases"))
                .header("Range", "version 2..; max=2"),
        )
        .await
        .expect(206);
    let versions: Vec<i64> = page
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 3]);
    let next = page.headers["next-range"].to_str().unwrap().to_string();
    let rest = api
        .send(
            api.request(reqwest::Method::GET, &format!("/apps/{name}/releases"))
                .header("Range", &next),
        )
        .await
        .expect(200);
    assert_eq!(rest.body.as_array().unwrap().len(), 1);
    assert_eq!(rest.body[0]["version"], 4);
    // Other platform tokens see config keys without values; the owner sees values.
    let bob_config = app
        .api("bob", Scope::Platform)
        .get(&format!("/apps/{name}/config-vars"))
        .await
        .expect(200);
    assert_eq!(bob_config.body, json!({ "FOO": null, "BAR": null }));
    // The bearer scheme is case-insensitive.
    let token = app.token("alice", Scope::Platform);
    let r = addon_broker_tests::api::http_client()
        .get(format!("{}/apps/{name}/config-vars", app.url))
        .header("Authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    api.post(&format!("/apps/{name}/releases"), json!({ "release": "nope" }))
        .await
        .expect(404);
    // Every mutation was audited with who and the request id.
    let audit = app.api("root", Scope::Admin).get("/admin/audit").await.expect(200).body;
    let mine: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "alice" && e["action"] == "platform.config_vars.update")
        .collect();
    assert!(mine.len() >= 2);
    assert!(mine.iter().all(|e| e["request_id"].as_str().is_some()));
}

async fn postgres_url_works(url: &str) -> bool {
    match connect_with_uri(url).await {
        Ok(c) => c
            .batch_execute("CREATE TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (1)")
            .await
            .is_ok(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn addons_create_injects_working_urls_and_destroying_removes_them() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let web = api.create_app().await;
    let r = api
        .post(&format!("/apps/{web}/addons"), json!({ "plan": "postgresql:shared" }))
        .await
        .expect(201);
    assert_eq!(r.body["state"], "provisioned");
    assert_eq!(r.body["plan"], "postgresql:shared");
    let first = r.body["name"].as_str().unwrap().to_string();
    let config = api.config(&web).await;
    let database_url = var(&config, "DATABASE_URL").to_string();
    assert!(postgres_url_works(&database_url).await);
    let releases = api.releases(&web).await;
    let last = releases.last().unwrap();
    assert_eq!(last["description"], format!("Attach DATABASE ({first})"));
    assert_eq!(last["addon_plan_names"], json!(["postgresql:shared"]));

    // A second PostgreSQL gets its own alias; a user-set var it overwrites is reported.
    api.patch(
        &format!("/apps/{web}/config-vars"),
        json!({ "POSTGRESQL_AMBER_URL": "mine" }),
    )
    .await
    .expect(200);
    let second = api
        .post(
            &format!("/apps/{web}/addons"),
            json!({ "plan": "postgresql:shared-large", "config": {"connection_limit": 30} }),
        )
        .await
        .expect(201);
    let config = api.config(&web).await;
    let amber = var(&config, "POSTGRESQL_AMBER_URL").to_string();
    assert_ne!(amber, "mine");
    assert!(postgres_url_works(&amber).await);
    let last = api.releases(&web).await.last().unwrap().clone();
    assert!(
        last["description"]
            .as_str()
            .unwrap()
            .contains("replaced user-set POSTGRESQL_AMBER_URL"),
        "{last}"
    );

    // Attaching the first add-on to another app gives that app its own working credentials.
    let worker = api.create_app().await;
    let att = api
        .post("/addon-attachments", json!({ "addon": first, "app": worker }))
        .await
        .expect(201);
    assert_eq!(att.body["name"], "DATABASE");
    let worker_url = var(&api.config(&worker).await, "DATABASE_URL").to_string();
    assert_ne!(worker_url, database_url);
    assert!(postgres_url_works(&worker_url).await);
    api.post("/addon-attachments", json!({ "addon": first, "app": worker }))
        .await
        .expect(409);
    let listed = api.get(&format!("/apps/{worker}/addons")).await.expect(200);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    // An app an add-on is merely attached to cannot destroy or re-plan it.
    let r = api.delete(&format!("/apps/{worker}/addons/{first}")).await.expect(422);
    assert!(r.message().contains("belongs to app"), "{}", r.body);
    api.patch(
        &format!("/apps/{worker}/addons/{first}"),
        json!({ "plan": "postgresql:shared-large" }),
    )
    .await
    .expect(422);

    // Detaching revokes that attachment only.
    api.delete(&format!("/addon-attachments/{}", att.body["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert!(
        !postgres_url_works(&worker_url).await,
        "detached credentials are revoked"
    );
    assert!(!api.config(&worker).await.contains_key("DATABASE_URL"));
    assert!(postgres_url_works(&database_url).await);

    // Destroying an add-on removes its vars in one new release, and its credentials die.
    let before = api.releases(&web).await.len();
    api.delete(&format!("/apps/{web}/addons/{first}")).await.expect(200);
    let after = api.releases(&web).await;
    assert_eq!(after.len(), before + 1, "one release for the destruction");
    assert!(after.last().unwrap()["description"]
        .as_str()
        .unwrap()
        .starts_with("Detach DATABASE"));
    let config = api.config(&web).await;
    assert!(!config.contains_key("DATABASE_URL"));
    assert!(config.contains_key("POSTGRESQL_AMBER_URL"));
    assert!(!postgres_url_works(&database_url).await);
    api.get(&format!("/apps/{web}/addons/{first}")).await.expect(404);

    // Plan changes go through the same update path as OSB.
    let second_name = second.body["name"].as_str().unwrap();
    let r = api
        .patch(
            &format!("/apps/{web}/addons/{second_name}"),
            json!({ "plan": "postgresql:shared" }),
        )
        .await
        .expect(422);
    assert!(r.message().contains("connection_limit 30 exceeds"), "{}", r.body);
    api.patch(
        &format!("/apps/{web}/addons/{second_name}"),
        json!({ "plan": "redis:shared" }),
    )
    .await
    .expect(422);

    // An app with add-ons is destroyed only when confirmed, and takes them with it.
    let r = api.delete(&format!("/apps/{web}")).await.expect(409);
    assert!(r.message().contains("confirm"));
    api.send(
        api.request(reqwest::Method::DELETE, &format!("/apps/{web}"))
            .json(&json!({ "confirm": web })),
    )
    .await
    .expect(200);
    assert!(!postgres_url_works(&amber).await);
    api.get(&format!("/apps/{web}")).await.expect(404);
}

#[tokio::test]
async fn addons_create_works_for_redis_and_kafka_too() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    api.post(&format!("/apps/{name}/addons"), json!({ "plan": "redis:shared" }))
        .await
        .expect(201);
    api.post(
        &format!("/apps/{name}/addons"),
        json!({ "plan": "kafka:shared", "attachment": { "name": "EVENTS" } }),
    )
    .await
    .expect(201);
    let config = api.config(&name).await;
    let (redis_url, redis_prefix) = (var(&config, "REDIS_URL"), var(&config, "REDIS_PREFIX"));
    redis_works(redis_url, redis_prefix).await.unwrap();
    let (kafka_url, kafka_prefix) = (var(&config, "EVENTS_URL"), var(&config, "EVENTS_PREFIX"));
    assert!(kafka_url.starts_with("kafka://"));
    let addons = api.get(&format!("/apps/{name}/addons")).await.expect(200).body;
    let kafka_addon = addons
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["service"] == "kafka")
        .unwrap();
    let topic = format!("{kafka_prefix}orders");
    let osb = app.osb();
    let r = osb
        .send(
            osb.request(
                reqwest::Method::PUT,
                &format!(
                    "/v2/service_instances/{}/topics/{topic}",
                    kafka_addon["id"].as_str().unwrap()
                ),
            )
            .json(&json!({})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let bootstrap = kafka_url.trim_start_matches("kafka://");
    kafka::produce(bootstrap, &topic, "hello").await.unwrap();
    assert_eq!(kafka::consume_until(bootstrap, &topic, "hello").await.unwrap(), "hello");
    let last = api.releases(&name).await.last().unwrap().clone();
    assert_eq!(last["addon_plan_names"], json!(["kafka:shared", "redis:shared"]));
    let redis_addon = addons
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["service"] == "redis")
        .unwrap();
    api.delete(&format!(
        "/apps/{name}/addons/{}",
        redis_addon["name"].as_str().unwrap()
    ))
    .await
    .expect(200);
    assert!(
        redis_works(redis_url, redis_prefix).await.is_err(),
        "destroyed add-on credentials are revoked"
    );
    let services = api.get("/addon-services").await.expect(200).body;
    assert_eq!(services.as_array().unwrap().len(), 3);
    let plans = api.get("/addon-services/postgresql/plans").await.expect(200).body;
    assert_eq!(plans[0]["name"], "postgresql:shared");
    api.get("/addon-services/mysql/plans").await.expect(404);
}

#[tokio::test]
async fn hostile_addon_requests_are_4xx_and_leave_nothing_behind() {
    let app = TestApp::spawn().await;
    let api: Api = app.platform();
    let name = api.create_app().await;
    let path = format!("/apps/{name}/addons");
    for (body, status) in [
        (json!({ "plan": "postgresql" }), 422),
        (json!({ "plan": "mysql:shared" }), 422),
        (json!({ "plan": "postgresql:huge" }), 422),
        (json!({ "plan": "postgresql:shared'; DROP" }), 422),
        (json!({ "plan": "x".repeat(10_000) }), 422),
        (
            json!({ "plan": "postgresql:shared", "config": { "connection_limit": "9; DROP" } }),
            400,
        ),
        (json!({ "plan": "postgresql:shared", "config": { "evil": 1 } }), 400),
        (json!({ "plan": "postgresql:shared", "config": [1] }), 400),
        (
            json!({ "plan": "postgresql:shared", "attachment": { "name": "lower" } }),
            400,
        ),
        (
            json!({ "plan": "postgresql:shared", "attachment": { "name": "A;B" } }),
            400,
        ),
        (json!({ "plan": "postgresql:shared", "name": "Bad Name" }), 400),
        (
            json!({ "plan": "postgresql:shared", "name": "a1b2c3d4-0000-4000-8000-000000000000" }),
            400,
        ),
        (json!({ "plan": 5 }), 400),
        (json!({}), 400),
    ] {
        let r = api.post(&path, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body:.80}: {}", r.body);
        assert!(!r.message().is_empty());
    }
    assert_eq!(
        api.get(&path).await.expect(200).body,
        json!([]),
        "no add-on was left behind"
    );
    assert_eq!(api.releases(&name).await.len(), 1, "no release was made");
    api.post("/apps/no-such-app/addons", json!({ "plan": "postgresql:shared" }))
        .await
        .expect(404);
    api.post(
        &path,
        json!({ "plan": "redis:shared", "attachment": { "name": "CACHE" } }),
    )
    .await
    .expect(201);
    let r = api
        .post(
            &path,
            json!({ "plan": "redis:shared", "attachment": { "name": "CACHE" } }),
        )
        .await
        .expect(409);
    assert!(r.message().contains("CACHE"));
}

#[tokio::test]
async fn a_slow_provision_answers_202_and_its_vars_arrive_in_a_later_release_even_across_a_crash() {
    // A cluster of this test's own, where a session on template1 makes CREATE DATABASE fail
    // with a transient error until it closes: a slow backend on demand.
    let pg = tokio::task::spawn_blocking(broker::devservers::PostgresServer::start)
        .await
        .unwrap()
        .unwrap();
    let hold = connect_with_uri(&pg.url("template1")).await.unwrap();
    let mut app = TestApp::spawn_with(addon_broker_tests::Options {
        create_wait_ms: 300,
        lease_ms: 1_000,
        postgres_url: Some(pg.url("postgres")),
        ..Default::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    let r = api
        .post(&format!("/apps/{name}/addons"), json!({ "plan": "postgresql:shared" }))
        .await
        .expect(202);
    assert_eq!(r.body["state"], "provisioning");
    assert!(
        !api.config(&name).await.contains_key("DATABASE_URL"),
        "no release with half a credential"
    );
    assert_eq!(api.releases(&name).await.len(), 1);

    app.kill();
    drop(hold);
    app.start();
    let api = app.platform();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let url = loop {
        if let Some(url) = api.config(&name).await.get("DATABASE_URL").and_then(Value::as_str) {
            break url.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "DATABASE_URL never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(postgres_url_works(&url).await);
    let releases = api.releases(&name).await;
    assert_eq!(releases.len(), 2, "exactly one release carries the credentials");
    assert!(releases[1]["description"]
        .as_str()
        .unwrap()
        .starts_with("Attach DATABASE"));
    let addon = api
        .get(&format!("/apps/{name}/addons/{}", r.body["name"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(addon.body["state"], "provisioned");
}

#[tokio::test]
async fn config_vars_are_encrypted_at_rest() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let secret = format!("s3cret-{}", uuid::Uuid::new_v4());
    api.patch(&format!("/apps/{name}/config-vars"), json!({ "API_KEY": secret }))
        .await
        .expect(200);
    api.post(&format!("/apps/{name}/addons"), json!({ "plan": "redis:shared" }))
        .await
        .expect(201);
    let redis_url = var(&api.config(&name).await, "REDIS_URL").to_string();
    let password = redis_url
        .rsplit_once('@')
        .unwrap()
        .0
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    if addon_broker_tests::StateBackend::from_env() == addon_broker_tests::StateBackend::Sqlite {
        let mut stored = Vec::new();
        for file in ["broker.sqlite", "broker.sqlite-wal"] {
            stored.extend(std::fs::read(app.dir().join(file)).unwrap_or_default());
        }
        for needle in [secret.as_str(), password.as_str()] {
            assert!(
                !stored.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "found in the state files"
            );
        }
        assert!(
            stored.windows(name.len()).any(|w| w == name.as_bytes()),
            "the search itself works"
        );
    } else {
        let db = app.state_url.rsplit('/').next().unwrap().to_string();
        let client = addon_broker_tests::pg_connect(&db).await;
        for table in ["releases", "apps", "addons", "addon_attachments", "audit_log"] {
            for row in client
                .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
                .await
                .unwrap()
            {
                let text: String = row.get(0);
                assert!(!text.contains(&secret) && !text.contains(&password), "found in {table}");
            }
        }
    }
    let log = std::fs::read_to_string(app.log_path()).unwrap();
    assert!(!log.contains(&secret) && !log.contains(&password));
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
