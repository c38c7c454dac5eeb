//! The Kafka topic extension: topics of an instance, managed through its provider.

use std::sync::Arc;

use super::domain::{audit, validate_id, Provisioning, Reply, RequestMeta};
use crate::catalog::clip;
use crate::db::models::{instance_state, Instance};
use crate::error::{Error, Result};
use crate::ids::InstanceId;

/// A topic as the broker reports it.
pub type TopicView = providers::TopicInfo;

/// A live, provisioned, idle instance whose provider manages topics.
struct TopicTarget {
    provider: Arc<dyn providers::Provider>,
    plan: providers::PlanDef,
    instance: InstanceId,
}

impl TopicTarget {
    fn admin(&self) -> Result<&dyn providers::TopicAdmin> {
        // `topic_admin` checked that the provider has topics; this cannot fail.
        self.provider
            .topics()
            .ok_or_else(|| Error::Internal("topics vanished".into()))
    }
}

impl Provisioning {
    /// Resolves a live, provisioned instance whose service manages topics.
    async fn topic_admin(&self, instance_id: &str) -> Result<TopicTarget> {
        validate_id("instance_id", instance_id)?;
        let id = instance_id.to_string();
        let inst = self
            .db
            .run(move |c| Instance::find(c, &id))
            .await?
            .filter(Instance::is_live)
            .ok_or_else(|| Error::NotFound(format!("instance {instance_id} does not exist")))?;
        let catalog = self.catalog.current();
        let (provider, plan) = catalog.resolve(&inst.service_id, &inst.plan_id)?;
        if provider.topics().is_none() {
            return Err(Error::BadRequest(format!(
                "service {} has no topics",
                provider.service().name
            )));
        }
        if inst.state != instance_state::PROVISIONED || inst.active_operation_id.is_some() {
            return Err(Error::ConcurrencyError(format!(
                "instance {instance_id} is not provisioned or has an operation in progress"
            )));
        }
        Ok(TopicTarget {
            provider: provider.clone(),
            plan: plan.clone(),
            instance: InstanceId::new(inst.id),
        })
    }

    /// Creates a topic of an instance; `Created` when new, `Exists` when an identical one was
    /// there, 409 when one with another spec was. The audit entry is `<face>.topic.create`
    /// (`osb` or `platform`: which API was used).
    pub async fn put_topic(
        &self,
        instance_id: String,
        name: String,
        partitions: Option<i32>,
        retention_ms: Option<i64>,
        meta: RequestMeta,
        face: &'static str,
    ) -> Result<Reply<TopicView>> {
        let target = self.topic_admin(&instance_id).await?;
        let admin = target.admin()?;
        let inst = target.instance.as_str();
        let spec = admin
            .check_topic(inst, &target.plan, &name, partitions, retention_ms)
            .map_err(|m| Error::BadRequest(clip(&m)))?;
        let (info, created) = admin.create_topic(&name, spec).await.map_err(provider_error)?;
        // A deprovision that began meanwhile has listed the prefix's topics already: take the
        // new topic back rather than leave it behind a dead prefix.
        let id = target.instance.clone();
        let still = self.db.run(move |c| Instance::find(c, id.as_str())).await?;
        if !still.is_some_and(|i| i.is_idle_and_provisioned()) {
            if created {
                admin.delete_topic(&name).await.map_err(provider_error)?;
            }
            return Err(Error::ConcurrencyError(format!(
                "instance {inst} is changing; try again"
            )));
        }
        if !created {
            let same = info.partitions == spec.partitions && info.retention_ms.is_none_or(|r| r == spec.retention_ms);
            if !same {
                return Err(Error::Conflict(format!(
                    "topic {name} already exists with another spec"
                )));
            }
            return Ok(Reply::Exists(info));
        }
        let audit_target = format!("instance/{inst}");
        let detail =
            serde_json::json!({ "topic": name, "partitions": spec.partitions, "retention_ms": spec.retention_ms });
        self.db
            .write(move |c| {
                audit(
                    c,
                    &meta,
                    &format!("{face}.topic.create"),
                    audit_target.clone(),
                    detail.clone(),
                )
            })
            .await?;
        Ok(Reply::Created(info))
    }

    /// Deletes a topic of an instance; 410 when there is none. Audited as `<face>.topic.delete`.
    pub async fn delete_topic(
        &self,
        instance_id: String,
        name: String,
        meta: RequestMeta,
        face: &'static str,
    ) -> Result<()> {
        let target = self.topic_admin(&instance_id).await?;
        let admin = target.admin()?;
        if !admin.owns_topic(target.instance.as_str(), &name) {
            return Err(Error::BadRequest(clip(&format!(
                "topic {name} is not under this instance's prefix"
            ))));
        }
        if !admin.delete_topic(&name).await.map_err(provider_error)? {
            return Err(Error::Gone(clip(&format!("topic {name} does not exist"))));
        }
        let audit_target = format!("instance/{}", target.instance);
        let detail = serde_json::json!({ "topic": name });
        self.db
            .write(move |c| {
                audit(
                    c,
                    &meta,
                    &format!("{face}.topic.delete"),
                    audit_target.clone(),
                    detail.clone(),
                )
            })
            .await?;
        Ok(())
    }

    /// Describes a topic of an instance.
    pub async fn get_topic(&self, instance_id: String, name: String) -> Result<TopicView> {
        let target = self.topic_admin(&instance_id).await?;
        let admin = target.admin()?;
        if !admin.owns_topic(target.instance.as_str(), &name) {
            return Err(Error::NotFound(clip(&format!("topic {name} does not exist"))));
        }
        admin
            .get_topic(&name)
            .await
            .map_err(provider_error)?
            .ok_or_else(|| Error::NotFound(clip(&format!("topic {name} does not exist"))))
    }

    /// Lists an instance's topics.
    pub async fn list_topics(&self, instance_id: String) -> Result<Vec<TopicView>> {
        let target = self.topic_admin(&instance_id).await?;
        target
            .admin()?
            .list_topics(target.instance.as_str())
            .await
            .map_err(provider_error)
    }
}

fn provider_error(e: providers::ProviderError) -> Error {
    match e {
        providers::ProviderError::Invalid(m) => Error::BadRequest(m),
        other => Error::Backend(other.to_string()),
    }
}
