//! The `kafka` service: a topic prefix per instance on a shared Kafka-protocol cluster (Heroku's
//! `KAFKA_PREFIX` convention), with topics created and deleted through the broker.
//!
//! For instance id `I` the prefix is `ab-<stem(I) with '_' as '-'>.`: the readable part and hash
//! of the id hold no `.`, so no instance's prefix can begin another's, and deprovisioning one
//! instance never touches a neighbour's topics. Dots and underscores are never mixed, so topic
//! names never collide in Kafka's metric names.
//!
//! Bindings hand out the bootstrap servers and the prefix. The clusters this runs against in
//! tests (tansu) have no authentication, so a binding is not a separate principal and unbinding
//! revokes nothing on the server; see the README for what SASL/SCRAM and ACLs on Apache Kafka
//! would add.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use serde_json::json;

use crate::catalog::{empty_object_schema, plan_schemas, Offering, PlanSpec};
use crate::names::stem;
use crate::{
    BindRequest, Credentials, DeprovisionRequest, Outcome, PlanDef, ProviderError, ProvisionRequest, Provisioned,
    Result, ServiceDef, TopicAdmin, TopicInfo, TopicSpec, UnbindRequest, UpdateRequest,
};

/// The public service name.
pub const SERVICE_NAME: &str = "kafka";
/// Longest topic name Kafka accepts.
pub const MAX_TOPIC_LEN: usize = 249;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct PlanLimits {
    name: &'static str,
    max_partitions: i32,
    min_retention_ms: i64,
    max_retention_ms: i64,
    default_retention_ms: i64,
    description: &'static str,
}

const HOUR_MS: i64 = 3_600_000;

const PLANS: [PlanLimits; 1] = [PlanLimits {
    name: "shared",
    max_partitions: 8,
    min_retention_ms: HOUR_MS,
    max_retention_ms: 7 * 24 * HOUR_MS,
    default_retention_ms: 24 * HOUR_MS,
    description: "A topic prefix on a shared Kafka cluster: topics of 1–8 partitions, retention from \
                  1 hour to 7 days (default 1 day), created through the broker.",
}];

/// How the adapter reaches its cluster.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers (`host:port`, comma-separated).
    pub bootstrap_servers: String,
    /// Bootstrap servers handed out in credentials, when they differ.
    pub public_bootstrap_servers: Option<String>,
    /// Replication factor of created topics.
    pub replication_factor: i32,
}

/// The `kafka` provider.
pub struct KafkaProvider {
    admin: Arc<AdminClient<DefaultClientContext>>,
    bootstrap: String,
    replication_factor: i32,
    service: ServiceDef,
}

/// The instance's topic prefix.
pub fn topic_prefix(instance_id: &str) -> String {
    format!("ab-{}.", stem(instance_id).replace('_', "-"))
}

fn plan_limits(plan: &PlanDef) -> Result<PlanLimits> {
    PLANS
        .iter()
        .find(|p| p.name == plan.name)
        .copied()
        .ok_or_else(|| ProviderError::Invalid(format!("unknown kafka plan {:?}", plan.name)))
}

fn build_service() -> ServiceDef {
    let offering = Offering {
        service: SERVICE_NAME,
        display_name: "Kafka",
        description: "Kafka topic prefixes on a shared cluster",
        tags: &["kafka", "streaming", "messaging"],
        plan_updateable: false,
        maintenance: "Kafka shared cluster, topic prefix per instance",
    };
    offering.build(PLANS.iter().map(|p| PlanSpec {
        name: p.name.into(),
        description: p.description.into(),
        schemas: plan_schemas(empty_object_schema(), empty_object_schema(), empty_object_schema()),
        metadata: json!({
            "max_partitions": p.max_partitions,
            "retention_ms": { "min": p.min_retention_ms, "max": p.max_retention_ms, "default": p.default_retention_ms },
        }),
    }))
}

fn failed(context: &str, code: RDKafkaErrorCode) -> ProviderError {
    use RDKafkaErrorCode as C;
    let transient = matches!(
        code,
        C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::OperationTimedOut
            | C::RequestTimedOut
            | C::NetworkException
            | C::NotController
            | C::LeaderNotAvailable
            | C::BrokerNotAvailable
            | C::CoordinatorNotAvailable
    );
    let message = format!("{context}: {code}");
    if transient {
        ProviderError::Transient(message)
    } else {
        ProviderError::Failed(message)
    }
}

fn kafka_error(context: &str, err: rdkafka::error::KafkaError) -> ProviderError {
    match err.rdkafka_error_code() {
        Some(code) => failed(context, code),
        None => ProviderError::Transient(format!("{context}: {err}")),
    }
}

/// Checks a topic name against Kafka's rules and the instance's prefix.
pub fn check_topic_name(instance_id: &str, name: &str) -> Result<(), String> {
    let prefix = topic_prefix(instance_id);
    if name.len() > MAX_TOPIC_LEN {
        return Err(format!("topic names are at most {MAX_TOPIC_LEN} characters"));
    }
    if !name.starts_with(&prefix) || name.len() == prefix.len() {
        return Err(format!(
            "topic names of this instance start with its prefix {prefix} and continue after it"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
    {
        return Err("topic names use only A-Z a-z 0-9 . - (no '_', which Kafka confuses with '.')".into());
    }
    Ok(())
}

impl KafkaProvider {
    /// A provider for the cluster (connected lazily by librdkafka).
    pub fn new(config: &KafkaConfig) -> Result<Self> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &config.bootstrap_servers)
            .set("client.id", "addon-broker")
            .create()
            .map_err(|e| ProviderError::Invalid(format!("kafka client: {e}")))?;
        Ok(KafkaProvider {
            admin: Arc::new(admin),
            bootstrap: config
                .public_bootstrap_servers
                .clone()
                .unwrap_or_else(|| config.bootstrap_servers.clone()),
            replication_factor: config.replication_factor.max(1),
            service: build_service(),
        })
    }

    fn options() -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(TIMEOUT))
            .request_timeout(Some(TIMEOUT))
    }

    /// All topic names and partition counts of the cluster.
    async fn metadata(&self) -> Result<Vec<(String, i32)>> {
        // librdkafka's metadata call blocks: run it on the blocking pool.
        let admin = self.admin.clone();
        tokio::task::spawn_blocking(move || {
            let metadata = admin
                .inner()
                .fetch_metadata(None, TIMEOUT)
                .map_err(|e| kafka_error("reading cluster metadata", e))?;
            Ok(metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| (t.name().to_string(), t.partitions().len() as i32))
                .collect())
        })
        .await
        .map_err(|e| ProviderError::Transient(format!("reading cluster metadata: {e}")))?
    }

    async fn retention_of(&self, name: &str) -> Result<Option<i64>> {
        let results = self
            .admin
            .describe_configs(&[ResourceSpecifier::Topic(name)], &Self::options())
            .await
            .map_err(|e| kafka_error("describing the topic", e))?;
        Ok(results
            .into_iter()
            .filter_map(|r| r.ok())
            .flat_map(|r| r.entries)
            .find(|e| e.name == "retention.ms")
            .and_then(|e| e.value)
            .and_then(|v| v.parse().ok()))
    }
}

#[async_trait]
impl crate::Provider for KafkaProvider {
    fn service(&self) -> &ServiceDef {
        &self.service
    }

    fn check_update(&self, request: &UpdateRequest) -> Result<(), String> {
        if request.from_plan.id != request.to_plan.id {
            return Err("kafka plans cannot be changed in place".into());
        }
        Ok(())
    }

    async fn provision(&self, request: &ProvisionRequest) -> Result<Outcome<Provisioned>> {
        plan_limits(&request.plan)?;
        // The prefix needs nothing on the cluster; provisioning proves the cluster answers.
        self.metadata().await?;
        Ok(Outcome::Done(Provisioned::default()))
    }

    async fn update(&self, _request: &UpdateRequest) -> Result<Outcome<()>> {
        Ok(Outcome::Done(()))
    }

    async fn deprovision(&self, request: &DeprovisionRequest) -> Result<Outcome<()>> {
        let prefix = topic_prefix(&request.instance_id);
        let mine: Vec<String> = self
            .metadata()
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| n.starts_with(&prefix))
            .collect();
        for name in mine {
            self.delete_topic(&name).await?;
        }
        Ok(Outcome::Done(()))
    }

    async fn bind(&self, request: &BindRequest) -> Result<Outcome<Credentials>> {
        let prefix = topic_prefix(&request.instance_id);
        let uri = self
            .bootstrap
            .split(',')
            .map(|s| format!("kafka://{}", s.trim()))
            .collect::<Vec<_>>()
            .join(",");
        let mut values = serde_json::Map::new();
        values.insert("uri".into(), json!(uri));
        values.insert("bootstrap_servers".into(), json!(self.bootstrap));
        values.insert("prefix".into(), json!(prefix));
        let env = [("URL".to_string(), uri), ("PREFIX".to_string(), prefix)]
            .into_iter()
            .collect();
        Ok(Outcome::Done(Credentials { values, env }))
    }

    async fn unbind(&self, _request: &UnbindRequest) -> Result<Outcome<()>> {
        // No principal exists per binding on an unauthenticated cluster: nothing to revoke.
        Ok(Outcome::Done(()))
    }

    async fn health(&self) -> Result<()> {
        self.metadata().await.map(|_| ())
    }

    fn topics(&self) -> Option<&dyn TopicAdmin> {
        Some(self)
    }
}

#[async_trait]
impl TopicAdmin for KafkaProvider {
    fn check_topic(
        &self,
        instance_id: &str,
        plan: &PlanDef,
        name: &str,
        partitions: Option<i32>,
        retention_ms: Option<i64>,
    ) -> Result<TopicSpec, String> {
        let limits = plan_limits(plan).map_err(|e| e.to_string())?;
        check_topic_name(instance_id, name)?;
        let partitions = partitions.unwrap_or(1);
        if !(1..=limits.max_partitions).contains(&partitions) {
            return Err(format!(
                "partitions must be between 1 and {} on plan {}",
                limits.max_partitions, limits.name
            ));
        }
        let retention_ms = retention_ms.unwrap_or(limits.default_retention_ms);
        if !(limits.min_retention_ms..=limits.max_retention_ms).contains(&retention_ms) {
            return Err(format!(
                "retention_ms must be between {} and {} on plan {}",
                limits.min_retention_ms, limits.max_retention_ms, limits.name
            ));
        }
        Ok(TopicSpec {
            partitions,
            retention_ms,
        })
    }

    fn owns_topic(&self, instance_id: &str, name: &str) -> bool {
        name.starts_with(&topic_prefix(instance_id))
    }

    async fn create_topic(&self, name: &str, spec: TopicSpec) -> Result<(TopicInfo, bool)> {
        let retention = spec.retention_ms.to_string();
        let topic = NewTopic::new(name, spec.partitions, TopicReplication::Fixed(self.replication_factor))
            .set("retention.ms", &retention);
        let results = self
            .admin
            .create_topics(&[topic], &Self::options())
            .await
            .map_err(|e| kafka_error("creating the topic", e))?;
        let created = match results.into_iter().next() {
            Some(Ok(_)) => true,
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => false,
            Some(Err((_, code))) => return Err(failed("creating the topic", code)),
            None => return Err(ProviderError::Failed("creating the topic: no answer".into())),
        };
        let info = self.get_topic(name).await?.unwrap_or(TopicInfo {
            name: name.to_string(),
            partitions: spec.partitions,
            retention_ms: Some(spec.retention_ms),
        });
        Ok((info, created))
    }

    async fn delete_topic(&self, name: &str) -> Result<bool> {
        let results = self
            .admin
            .delete_topics(&[name], &Self::options())
            .await
            .map_err(|e| kafka_error("deleting the topic", e))?;
        match results.into_iter().next() {
            Some(Ok(_)) => Ok(true),
            Some(Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))) | None => Ok(false),
            Some(Err((_, code))) => Err(failed("deleting the topic", code)),
        }
    }

    async fn get_topic(&self, name: &str) -> Result<Option<TopicInfo>> {
        let Some((_, partitions)) = self.metadata().await?.into_iter().find(|(n, _)| n == name) else {
            return Ok(None);
        };
        let retention_ms = self.retention_of(name).await?;
        Ok(Some(TopicInfo {
            name: name.to_string(),
            partitions,
            retention_ms,
        }))
    }

    async fn list_topics(&self, instance_id: &str) -> Result<Vec<TopicInfo>> {
        let prefix = topic_prefix(instance_id);
        let mut out = Vec::new();
        let mut mine: Vec<(String, i32)> = self
            .metadata()
            .await?
            .into_iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .collect();
        mine.sort();
        for (name, partitions) in mine {
            let retention_ms = self.retention_of(&name).await?;
            out.push(TopicInfo {
                name,
                partitions,
                retention_ms,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_hold_one_dot_at_the_end_and_never_begin_each_other() {
        let a = topic_prefix("a");
        let b = topic_prefix("a.b");
        assert!(a.ends_with('.') && a.matches('.').count() == 1, "{a}");
        assert!(!b.starts_with(&a) && !a.starts_with(&b));
    }

    #[test]
    fn topic_names_outside_the_prefix_or_invalid_for_kafka_are_refused() {
        let p = topic_prefix("i");
        assert!(check_topic_name("i", &format!("{p}orders")).is_ok());
        assert!(check_topic_name("i", "orders").is_err());
        assert!(check_topic_name("i", &p).is_err());
        assert!(check_topic_name("i", &format!("{p}a_b")).is_err());
        assert!(check_topic_name("i", &format!("{p}a b")).is_err());
        assert!(check_topic_name("i", &format!("{p}{}", "x".repeat(300))).is_err());
        assert!(check_topic_name("j", &format!("{p}orders")).is_err());
    }
}
