//! Kafka topics of an app's add-on, for people with the app rather than the operator's OSB
//! password: the add-on is named as on every add-on route (name, id, attachment or service
//! name), must be on the app (owned or attached) and of a service with topics; the topic calls
//! themselves are the OSB extension's (`provisioning::topics`), with the same rules and answers.

use super::domain::{Actor, Platform};
use crate::db::models::{Addon, AddonState};
use crate::error::{Error, Result};
use crate::ids::{AddonRef, AppRef};
use crate::provisioning::{Reply, TopicView};

/// What topic calls made through the platform API are audited as (`platform.topic.create`).
const FACE: &str = "platform";

impl Platform {
    /// The add-on of an app whose topics a request names: on the app, of a service with
    /// topics (422 naming the services that have them), and provisioned (422 otherwise).
    async fn topic_addon(&self, app: AppRef, addon: AddonRef, actor: &Actor) -> Result<Addon> {
        let (addon, app) = self.addon_of_app(app, addon, actor).await?;
        let catalog = self.provisioning.catalog();
        let with_topics: Vec<String> = catalog
            .entries()
            .iter()
            .filter(|e| e.provider.topics().is_some())
            .map(|e| e.provider.service().name.clone())
            .collect();
        if !with_topics.contains(&addon.service) {
            let list = if with_topics.is_empty() {
                "none is configured".to_string()
            } else {
                with_topics.join(", ")
            };
            return Err(Error::Unprocessable(format!(
                "add-on {} of app {} is a {} add-on; only add-ons of services with topics have them ({list})",
                addon.name, app.name, addon.service
            )));
        }
        if !addon.is(AddonState::Provisioned) {
            return Err(Error::Unprocessable(format!(
                "add-on {} is {}; its topics can be managed once it is provisioned",
                addon.name, addon.state
            )));
        }
        Ok(addon)
    }

    /// Creates a topic (full name, under the add-on's `KAFKA_PREFIX`): `Created`, or `Exists`
    /// when an identical one was there; 409 when one with another spec was.
    pub async fn put_topic(
        &self,
        app: AppRef,
        addon: AddonRef,
        topic: String,
        partitions: Option<i32>,
        retention_ms: Option<i64>,
        actor: &Actor,
    ) -> Result<Reply<TopicView>> {
        let addon = self.topic_addon(app, addon, actor).await?;
        self.check_owning_app(&addon, actor).await?;
        self.provisioning
            .put_topic(addon.id, topic, partitions, retention_ms, actor.meta(), FACE)
            .await
    }

    /// Describes a topic of an app's add-on.
    pub async fn get_topic(&self, app: AppRef, addon: AddonRef, topic: String, actor: &Actor) -> Result<TopicView> {
        let addon = self.topic_addon(app, addon, actor).await?;
        self.provisioning.get_topic(addon.id, topic).await
    }

    /// Deletes a topic of an app's add-on; 410 when there is none.
    pub async fn delete_topic(&self, app: AppRef, addon: AddonRef, topic: String, actor: &Actor) -> Result<()> {
        let addon = self.topic_addon(app, addon, actor).await?;
        self.check_owning_app(&addon, actor).await?;
        self.provisioning
            .delete_topic(addon.id, topic, actor.meta(), FACE)
            .await
    }

    /// The topics of an app's add-on.
    pub async fn list_topics(&self, app: AppRef, addon: AddonRef, actor: &Actor) -> Result<Vec<TopicView>> {
        let addon = self.topic_addon(app, addon, actor).await?;
        self.provisioning.list_topics(addon.id).await
    }
}
