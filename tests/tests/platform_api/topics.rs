//! A Kafka add-on's topics through the platform API (`/apps/{app}/addons/{addon}/topics`),
//! against the real Kafka-protocol broker (tansu): the OSB extension's rules with a platform
//! token, proved on the cluster with a real client.

use addon_broker_tests::{encode, servers};

use super::*;

fn topic_path(app: &str, addon: &str, topic: &str) -> String {
    format!("/apps/{app}/addons/{addon}/topics/{}", encode(topic))
}

async fn put(api: &Api, path: &str, body: Option<Value>) -> addon_broker_tests::Reply {
    let rb = api.request(reqwest::Method::PUT, path);
    api.send(match body {
        Some(b) => rb.json(&b),
        None => rb,
    })
    .await
}

async fn on_cluster(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = kafka::topic_names(&servers().kafka.bootstrap())
        .await
        .into_iter()
        .filter(|t| t.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn kafka_topics_are_created_listed_and_deleted_through_the_platform_api() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let web = api.create_app().await;
    let addon = api
        .post(&format!("/apps/{web}/addons"), json!({ "plan": "kafka" }))
        .await
        .expect(201)
        .body;
    let (name, id) = (addon["name"].as_str().unwrap(), addon["id"].as_str().unwrap());
    let config = api.config(&web).await;
    let prefix = var(&config, "KAFKA_PREFIX").to_string();
    let bootstrap = var(&config, "KAFKA_URL").trim_start_matches("kafka://").to_string();
    let orders = format!("{prefix}orders");

    let body = json!({ "partitions": 2, "retention_ms": 3_600_000 });
    let r = put(&api, &topic_path(&web, "KAFKA", &orders), Some(body.clone()))
        .await
        .expect(201);
    assert_eq!(
        r.body,
        json!({ "name": orders, "partitions": 2, "retention_ms": 3_600_000 })
    );
    put(&api, &topic_path(&web, name, &orders), Some(body))
        .await
        .expect(200);
    let r = put(&api, &topic_path(&web, id, &orders), Some(json!({ "partitions": 3 })))
        .await
        .expect(409);
    assert!(r.message().contains("another spec"), "{}", r.message());
    let events = format!("{prefix}events");
    let r = put(&api, &topic_path(&web, "kafka", &events), None).await.expect(201);
    assert_eq!(r.body["partitions"], 1, "an empty body takes the plan's defaults");
    assert_eq!(on_cluster(&prefix).await, [events.clone(), orders.clone()]);
    kafka::produce(&bootstrap, &orders, "hello").await.unwrap();
    assert_eq!(
        kafka::consume_until(&bootstrap, &orders, "hello").await.unwrap(),
        "hello"
    );

    let list = api.get(&format!("/apps/{web}/addons/{name}/topics")).await.expect(200);
    let names: Vec<&str> = list.body["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [events.as_str(), orders.as_str()]);
    let r = api.get(&topic_path(&web, "KAFKA", &orders)).await.expect(200);
    assert_eq!(r.body["retention_ms"], 3_600_000);

    api.delete(&topic_path(&web, "KAFKA", &orders)).await.expect(200);
    assert_eq!(
        on_cluster(&prefix).await,
        std::slice::from_ref(&events),
        "the topic is gone from the cluster"
    );
    api.delete(&topic_path(&web, "KAFKA", &orders)).await.expect(410);
    api.get(&topic_path(&web, "KAFKA", &orders)).await.expect(404);

    let audit = app
        .api("operator", Scope::Admin)
        .get("/admin/audit?action=platform.topic.create")
        .await
        .expect(200)
        .body;
    assert!(audit.to_string().contains(&events), "{audit}");

    // An app the add-on is attached to reaches the same topics.
    let worker = api.create_app().await;
    api.post("/addon-attachments", json!({ "addon": name, "app": worker }))
        .await
        .expect(201);
    let list = api
        .get(&format!("/apps/{worker}/addons/KAFKA/topics"))
        .await
        .expect(200);
    assert_eq!(list.body["topics"][0]["name"], events.as_str());
}

#[tokio::test]
async fn hostile_topic_names_and_foreign_addons_are_refused_and_create_nothing() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let web = api.create_app().await;
    let addon = api
        .post(&format!("/apps/{web}/addons"), json!({ "plan": "kafka:shared" }))
        .await
        .expect(201)
        .body;
    let name = addon["name"].as_str().unwrap();
    let prefix = var(&api.config(&web).await, "KAFKA_PREFIX").to_string();
    for (topic, body, needle) in [
        ("orders".to_string(), json!({}), "prefix"),
        ("ab-other.orders".to_string(), json!({}), "prefix"),
        (prefix.clone(), json!({}), "prefix"),
        (format!("{prefix}a;b"), json!({}), "A-Z"),
        (format!("{prefix}../x"), json!({}), "A-Z"),
        (format!("{prefix}ünï"), json!({}), "A-Z"),
        (format!("{prefix}{}", "x".repeat(5_000)), json!({}), "249"),
        (format!("{prefix}p9"), json!({ "partitions": 9 }), "partitions"),
        (format!("{prefix}r"), json!({ "retention_ms": 1000 }), "retention_ms"),
        (
            format!("{prefix}u"),
            json!({ "cleanup.policy": "compact" }),
            "unknown field",
        ),
    ] {
        let r = put(&api, &topic_path(&web, "KAFKA", &topic), Some(body.clone())).await;
        assert_eq!(r.status, 400, "{topic:.60} {body}: {}", r.body);
        assert!(r.message().contains(needle), "{topic:.60}: {}", r.body);
    }
    assert!(on_cluster(&prefix).await.is_empty(), "refused topics were not created");
    api.delete(&topic_path(&web, "KAFKA", "orders")).await.expect(400);

    // Not a Kafka add-on; an add-on of another app; no such app; no token.
    api.post(&format!("/apps/{web}/addons"), json!({ "plan": "redis" }))
        .await
        .expect(201);
    let r = api.get(&format!("/apps/{web}/addons/REDIS/topics")).await.expect(422);
    assert!(
        r.message().contains("redis add-on") && r.message().contains("kafka"),
        "{}",
        r.message()
    );
    let stranger = api.create_app().await;
    let topic = format!("{prefix}orders");
    let r = put(&api, &topic_path(&stranger, name, &topic), None).await.expect(404);
    assert!(r.message().contains("not attached"), "{}", r.message());
    put(&api, &topic_path(&stranger, "kafka", &topic), None)
        .await
        .expect(404);
    put(&api, &topic_path("no-such-app", name, &topic), None)
        .await
        .expect(404);
    let mut anonymous = api.clone();
    anonymous.token = None;
    put(&anonymous, &topic_path(&web, name, &topic), None).await.expect(401);
    assert!(on_cluster(&prefix).await.is_empty(), "nothing was created");
}
