//! The topic extension of the OSB API for `kafka:shared` instances, against a real
//! Kafka-protocol broker (tansu): topics only under the instance's prefix and within the plan's
//! bounds, and deprovision deletes exactly the instance's topics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use addon_broker_tests::{encode, kafka, servers, unique, Osb, Reply, TestApp};
use providers::kafka::topic_prefix;
use reqwest::Method;
use serde_json::{json, Value};

async fn put_topic(osb: &Osb, id: &str, topic: &str, body: Value) -> Reply {
    let path = format!("/v2/service_instances/{id}/topics/{}", encode(topic));
    osb.send(osb.request(Method::PUT, &path).json(&body)).await
}

async fn topic_path(osb: &Osb, method: Method, id: &str, topic: &str) -> Reply {
    osb.send(osb.request(method, &format!("/v2/service_instances/{id}/topics/{}", encode(topic))))
        .await
}

#[tokio::test]
async fn topics_are_created_only_under_the_prefix_and_within_the_plan() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("kafka", "shared").await;
    let (id, creds) = osb.bound(&plan, "topics").await;
    let prefix = topic_prefix(&id);
    assert_eq!(creds["prefix"], prefix.as_str());
    assert_eq!(creds["bootstrap_servers"], servers().kafka.bootstrap().as_str());
    assert_eq!(
        creds["uri"],
        format!("kafka://{}", servers().kafka.bootstrap()).as_str()
    );

    let orders = format!("{prefix}orders");
    let r = put_topic(&osb, &id, &orders, json!({"partitions": 3, "retention_ms": 3_600_000}))
        .await
        .expect(201);
    assert_eq!(r.body["name"], orders.as_str());
    assert_eq!(r.body["partitions"], 3);
    put_topic(&osb, &id, &orders, json!({"partitions": 3, "retention_ms": 3_600_000}))
        .await
        .expect(200);
    let r = put_topic(&osb, &id, &orders, json!({"partitions": 2, "retention_ms": 3_600_000}))
        .await
        .expect(409);
    assert!(r.description().contains("another spec"));
    let r = topic_path(&osb, Method::GET, &id, &orders).await.expect(200);
    assert_eq!(r.body["partitions"], 3);
    assert_eq!(
        r.body["retention_ms"], 3_600_000,
        "the cluster kept the plan-bounded retention"
    );
    // Defaults: one partition, the plan's default retention.
    let r = put_topic(&osb, &id, &format!("{prefix}events"), json!({}))
        .await
        .expect(201);
    assert_eq!(r.body["partitions"], 1);
    let list = osb.get(&format!("/v2/service_instances/{id}/topics")).await.expect(200);
    let names: Vec<&str> = list.body["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [format!("{prefix}events"), orders.clone()]);

    let other_prefix = topic_prefix(&unique("neighbour"));
    for (name, body, needle) in [
        ("orders".to_string(), json!({}), "prefix"),
        (format!("{other_prefix}orders"), json!({}), "prefix"),
        (prefix.clone(), json!({}), "prefix"),
        (format!("{prefix}a_b"), json!({}), "A-Z"),
        (format!("{prefix}a;b"), json!({}), "A-Z"),
        (format!("{prefix}ünï"), json!({}), "A-Z"),
        (format!("{prefix}{}", "x".repeat(10_000)), json!({}), "249"),
        (format!("{prefix}p9"), json!({"partitions": 9}), "partitions"),
        (format!("{prefix}p0"), json!({"partitions": 0}), "partitions"),
        (format!("{prefix}r"), json!({"retention_ms": 1000}), "retention_ms"),
        (
            format!("{prefix}r"),
            json!({"retention_ms": 30_000_000_000_i64}),
            "retention_ms",
        ),
        (
            format!("{prefix}u"),
            json!({"cleanup.policy": "compact"}),
            "unknown field",
        ),
        (format!("{prefix}t"), json!({"partitions": "3"}), "invalid type"),
    ] {
        let r = put_topic(&osb, &id, &name, body.clone()).await;
        assert_eq!(r.status, 400, "{name:.60} {body}: {}", r.body);
        assert!(r.description().contains(needle), "{name:.60}: {}", r.body);
    }
    let on_cluster = kafka::topic_names(&servers().kafka.bootstrap()).await;
    let mine: Vec<&String> = on_cluster.iter().filter(|t| t.starts_with(&prefix)).collect();
    assert_eq!(mine.len(), 2, "refused topics were not created: {mine:?}");
    assert!(!on_cluster.iter().any(|t| t == "orders"));

    topic_path(&osb, Method::DELETE, &id, &orders).await.expect(200);
    topic_path(&osb, Method::DELETE, &id, &orders).await.expect(410);
    topic_path(&osb, Method::GET, &id, &orders).await.expect(404);
    topic_path(&osb, Method::DELETE, &id, "orders").await.expect(400);
}

#[tokio::test]
async fn topics_need_a_provisioned_kafka_instance() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let pg = osb.plan("postgresql", "shared").await;
    let id = unique("notkafka");
    osb.provision(&id, &pg, json!({}), false).await.expect(201);
    let r = put_topic(&osb, &id, "x", json!({})).await.expect(400);
    assert!(r.description().contains("has no topics"));
    put_topic(&osb, &unique("missing"), "x", json!({})).await.expect(404);
    put_topic(&osb, "bad'id", "x", json!({})).await.expect(400);
    let mut unauthenticated = osb.clone();
    unauthenticated.password = "nope".into();
    put_topic(&unauthenticated, &id, "x", json!({})).await.expect(401);
}

#[tokio::test]
async fn deprovision_deletes_exactly_the_instances_topics() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("kafka", "shared").await;
    let (a, b) = (unique("ka"), unique("kb"));
    osb.provision(&a, &plan, json!({}), false).await.expect(201);
    osb.provision(&b, &plan, json!({}), false).await.expect(201);
    for t in ["one", "two"] {
        put_topic(&osb, &a, &format!("{}{t}", topic_prefix(&a)), json!({}))
            .await
            .expect(201);
    }
    let neighbour = format!("{}one", topic_prefix(&b));
    put_topic(&osb, &b, &neighbour, json!({})).await.expect(201);
    kafka::produce(&servers().kafka.bootstrap(), &neighbour, "kept")
        .await
        .unwrap();

    osb.deprovision(&a, &plan, false).await.expect(200);
    let names = kafka::topic_names(&servers().kafka.bootstrap()).await;
    assert!(!names.iter().any(|n| n.starts_with(&topic_prefix(&a))), "{names:?}");
    assert!(names.contains(&neighbour), "the neighbour's topic stays");
    assert_eq!(
        kafka::consume_until(&servers().kafka.bootstrap(), &neighbour, "kept")
            .await
            .unwrap(),
        "kept"
    );
    put_topic(&osb, &a, &format!("{}three", topic_prefix(&a)), json!({}))
        .await
        .expect(404);
}
