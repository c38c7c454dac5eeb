//! A Kafka client for tests: produces a record and reads it back through the bootstrap servers
//! of a binding's credentials, and lists the topics on the cluster.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

/// Produces `payload` to partition 0 of `topic`.
pub async fn produce(bootstrap: &str, topic: &str, payload: &str) -> Result<(), String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "10000")
        .create()
        .map_err(|e| e.to_string())?;
    producer
        .send(
            FutureRecord::to(topic).partition(0).key("k").payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

/// Reads partition 0 of `topic` from the start until `payload` shows up (or 10 s pass).
pub async fn consume_until(bootstrap: &str, topic: &str, payload: &str) -> Result<String, String> {
    let (bootstrap, topic, payload) = (bootstrap.to_string(), topic.to_string(), payload.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("test-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| e.to_string())?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning)
            .map_err(|e| e.to_string())?;
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let message = message.map_err(|e| e.to_string())?;
                let body = message.payload_view::<str>().and_then(|r| r.ok()).unwrap_or_default();
                if body == payload {
                    return Ok(body.to_string());
                }
            }
        }
        Err(format!("{payload} not read back from {topic}"))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Topic names on the cluster.
pub async fn topic_names(bootstrap: &str) -> Vec<String> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(10)).unwrap();
        metadata.topics().iter().map(|t| t.name().to_string()).collect()
    })
    .await
    .unwrap()
}
