//! Add-ons: `addons:create` with working URLs, destruction, hostile requests, slow provisions.

use super::*;

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
        (json!({ "plan": "postgres" }), 422),
        (json!({ "plan": "" }), 422),
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
