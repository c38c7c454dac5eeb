//! `kafka:topics*`: topics of the app's Kafka add-on, named short (the add-on's prefix is put
//! before) or in full, used by a real Kafka client; none or several add-ons say what to do.

use addon_broker_tests::kafka::{consume_until, produce, topic_names};
use addon_broker_tests::{servers, CliUser, TestApp};

use super::config::create_app;

#[tokio::test]
async fn topics_are_created_listed_used_and_destroyed_on_the_apps_kafka_addon() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let name = create_app(&alice, "kfk").await;
    let none = alice.run(&["kafka:topics"]).await;
    assert!(
        none.fails().contains(&format!(
            "{name} has no Kafka add-on; create one with: broker addons:create kafka"
        )),
        "{}",
        none.stderr
    );

    alice.run(&["addons:create", "kafka"]).await.ok();
    let prefix = alice.run(&["config:get", "KAFKA_PREFIX"]).await.ok().trim().to_string();
    let bootstrap = alice
        .run(&["config:get", "KAFKA_URL"])
        .await
        .ok()
        .trim()
        .trim_start_matches("kafka://")
        .to_string();
    let empty = alice.run(&["kafka:topics"]).await;
    assert!(empty.ok().contains("has no topics"), "{}", empty.stdout);

    let topic = format!("{prefix}events");
    let created = alice
        .run(&[
            "kafka:topics:create",
            "events",
            "--partitions",
            "2",
            "--retention-ms",
            "3600000",
        ])
        .await;
    assert!(
        created.ok().starts_with(&format!("Topic {topic} created on kafka-")),
        "{}",
        created.stdout
    );
    assert!(
        created.stdout.contains("(2 partitions, retention 1h)"),
        "{}",
        created.stdout
    );
    // The same again is fine; another spec is a conflict, in one line.
    let same = alice
        .run(&[
            "kafka:topics:create",
            &topic,
            "--partitions",
            "2",
            "--retention-ms",
            "3600000",
        ])
        .await;
    assert!(same.ok().contains("already exists as asked"), "{}", same.stdout);
    alice
        .run(&["kafka:topics:create", "events", "--partitions", "3"])
        .await
        .fails();

    let listed = alice.run(&["kafka:topics"]).await;
    assert!(
        listed
            .ok()
            .lines()
            .any(|l| l.starts_with(&topic) && l.contains(" 2 ") && l.ends_with("1h")),
        "{}",
        listed.stdout
    );
    let json = alice.run(&["kafka:topics", "KAFKA", "--json"]).await.json();
    assert_eq!(json["topics"][0]["name"], topic.as_str());
    assert_eq!(json["topics"][0]["partitions"], 2);
    assert!(topic_names(&servers().kafka.bootstrap()).await.contains(&topic));
    produce(&bootstrap, &topic, "hello").await.unwrap();
    assert_eq!(consume_until(&bootstrap, &topic, "hello").await.unwrap(), "hello");

    // A second Kafka add-on: the commands ask which one, until it is named.
    alice.run(&["addons:create", "kafka", "--as", "EVENTS"]).await.ok();
    let several = alice.run(&["kafka:topics"]).await;
    assert!(
        several.fails().contains(&format!("{name} has 2 Kafka add-ons")),
        "{}",
        several.stderr
    );
    let other = alice.run(&["kafka:topics", "EVENTS", "--json"]).await.json();
    assert_eq!(other["topics"], serde_json::json!([]));

    // Destroying asks for the topic's name; the three-word form works too.
    let refused = alice.run(&["kafka", "topics", "destroy", "events", "KAFKA"]).await;
    assert!(refused.fails().contains("--confirm events"), "{}", refused.stderr);
    assert!(topic_names(&servers().kafka.bootstrap()).await.contains(&topic));
    let gone = alice
        .run(&["kafka", "topics", "destroy", "events", "KAFKA", "--confirm", "events"])
        .await;
    assert_eq!(
        gone.ok().trim(),
        format!("Topic {topic} deleted from {}", json_addon(&alice, "KAFKA").await)
    );
    assert!(!topic_names(&servers().kafka.bootstrap()).await.contains(&topic));
}

/// The name of an add-on of the user's app.
async fn json_addon(user: &CliUser, addon: &str) -> String {
    let info = user.run(&["addons:info", addon, "--json"]).await.json();
    info["addon"]["name"].as_str().unwrap_or_default().to_string()
}
