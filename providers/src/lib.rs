//! The provider contract of addon-broker and its built-in adapters.
//!
//! A [`Provider`] turns broker operations (provision, update, deprovision, bind, unbind) into real
//! resources on a backing server. Every call is idempotent per id: resource names derive from the
//! instance or binding id, never from randomness, so a retry or a crash-resume finds what an
//! earlier attempt made, and deleting something already gone succeeds.

pub mod catalog;
pub mod kafka;
pub mod names;
pub mod osb_upstream;
pub mod partner;
pub mod postgres;
pub mod redis;
pub mod signing;

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use catalog::{PlanDef, ServiceDef};

/// The result of a provider call: finished now, or still running on the backend and polled later
/// with the returned token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The operation finished; here is its result.
    Done(T),
    /// The backend accepted the work and will finish later; poll with this token.
    Pending(String),
}

/// Why a provider call failed, and so whether it is worth trying again.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The request can never succeed as asked (bad parameters, an impossible plan change).
    #[error("{0}")]
    Invalid(String),
    /// The backend could not be reached or was busy; the same call may succeed later.
    #[error("backend unavailable: {0}")]
    Transient(String),
    /// The backend refused the operation; retrying the same call will not help.
    #[error("{0}")]
    Failed(String),
}

impl ProviderError {
    /// True when the same call may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient(_))
    }
}

/// Result type of provider calls.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// Binding credentials: the OSB `credentials` object and the same secrets as env-var suffixes
/// (`URL`, `PREFIX` …) that the platform prefixes with the attachment name.
///
/// `Debug` never prints the values, so credentials cannot leak through logs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    /// The OSB `credentials` object returned to the platform.
    pub values: serde_json::Map<String, Value>,
    /// Env-var suffixes and their values (`URL` → `postgres://…`).
    pub env: BTreeMap<String, String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("values", &self.values.keys().collect::<Vec<_>>())
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A request to create a service instance.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    /// The OSB instance id (already validated by the broker).
    pub instance_id: String,
    /// The plan to provision.
    pub plan: PlanDef,
    /// Plan parameters, validated against the plan's schema.
    pub parameters: Value,
    /// The OSB context of the instance (the platform's app and add-on names, when it has them).
    pub context: Value,
}

/// A request to change an instance's plan or parameters.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// The OSB instance id.
    pub instance_id: String,
    /// The plan the instance is on now.
    pub from_plan: PlanDef,
    /// The plan it moves to (the same plan for a parameters-only change).
    pub to_plan: PlanDef,
    /// The instance's effective parameters after the update.
    pub parameters: Value,
}

/// A request to remove an instance and everything it owns.
#[derive(Debug, Clone)]
pub struct DeprovisionRequest {
    /// The OSB instance id.
    pub instance_id: String,
    /// The plan the instance is on.
    pub plan: PlanDef,
}

/// A request to create a binding (a set of credentials) for an instance.
#[derive(Clone)]
pub struct BindRequest {
    /// The OSB instance id.
    pub instance_id: String,
    /// The OSB binding id.
    pub binding_id: String,
    /// The instance's plan.
    pub plan: PlanDef,
    /// The instance's parameters (for plan limits).
    pub instance_parameters: Value,
    /// Binding parameters, validated against the plan's binding schema.
    pub parameters: Value,
    /// The instance's own config, for services whose instances carry it (third-party add-ons
    /// give every attachment the add-on's config).
    pub instance_config: Option<Credentials>,
    /// The password for the binding's principal, fixed for this bind operation. Every attempt
    /// gets the same one, so two attempts that race (a lease lapsed under load, a killed
    /// broker's last command still in flight) cannot leave the server with one password and
    /// the stored credentials with another. Adapters whose provider makes its own ignore it.
    pub password: String,
}

impl std::fmt::Debug for BindRequest {
    // The password is a credential: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindRequest")
            .field("instance_id", &self.instance_id)
            .field("binding_id", &self.binding_id)
            .field("plan", &self.plan.name)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A request to revoke a binding's credentials.
#[derive(Debug, Clone)]
pub struct UnbindRequest {
    /// The OSB instance id.
    pub instance_id: String,
    /// The OSB binding id.
    pub binding_id: String,
    /// The instance's plan.
    pub plan: PlanDef,
}

/// What a provider reports when a provision completes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provisioned {
    /// An optional dashboard for the instance.
    pub dashboard_url: Option<String>,
    /// The instance's own config, for services that set it at provisioning (third-party
    /// add-ons); the broker keeps it sealed and hands it to [`BindRequest::instance_config`].
    pub config: Option<Credentials>,
}

/// The kind of operation a pending token belongs to, for [`Provider::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Creating an instance.
    Provision,
    /// Changing an instance's plan or parameters.
    Update,
    /// Removing an instance.
    Deprovision,
    /// Creating a binding.
    Bind,
    /// Removing a binding.
    Unbind,
}

impl OperationKind {
    /// The stable lowercase name stored in the operation journal.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Provision => "provision",
            OperationKind::Update => "update",
            OperationKind::Deprovision => "deprovision",
            OperationKind::Bind => "bind",
            OperationKind::Unbind => "unbind",
        }
    }

    /// Parses a name written by [`OperationKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "provision" => OperationKind::Provision,
            "update" => OperationKind::Update,
            "deprovision" => OperationKind::Deprovision,
            "bind" => OperationKind::Bind,
            "unbind" => OperationKind::Unbind,
            _ => return None,
        })
    }

    /// True for operations on a binding rather than on the instance itself.
    pub fn is_binding(self) -> bool {
        matches!(self, OperationKind::Bind | OperationKind::Unbind)
    }
}

/// What a finished poll yields: credentials for a bind, nothing for the rest.
#[derive(Debug, Clone, PartialEq)]
pub enum Polled {
    /// The operation finished and produced nothing to keep.
    Finished,
    /// A provision finished with a dashboard URL.
    Provisioned(Provisioned),
    /// A bind finished with these credentials.
    Bound(Credentials),
}

/// One adapter per catalog service. Held as `Arc<dyn Provider>`.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The catalog entry this adapter serves.
    fn service(&self) -> &ServiceDef;

    /// Checks, before anything is written, that an update can be carried out; the message of an
    /// `Err` is shown to the platform as a 422.
    fn check_update(&self, request: &UpdateRequest) -> Result<(), String>;

    /// Creates the instance's resources, or converges on what an earlier attempt left.
    async fn provision(&self, request: &ProvisionRequest) -> Result<Outcome<Provisioned>>;

    /// Applies a plan or parameter change.
    async fn update(&self, request: &UpdateRequest) -> Result<Outcome<()>>;

    /// Removes the instance and all its bindings' resources; succeeds when already gone.
    async fn deprovision(&self, request: &DeprovisionRequest) -> Result<Outcome<()>>;

    /// Creates credentials for a binding.
    async fn bind(&self, request: &BindRequest) -> Result<Outcome<Credentials>>;

    /// Revokes a binding's credentials; succeeds when already gone.
    async fn unbind(&self, request: &UnbindRequest) -> Result<Outcome<()>>;

    /// Asks the backend about a pending operation.
    async fn poll(&self, kind: OperationKind, token: &str) -> Result<Outcome<Polled>> {
        let _ = token;
        Err(ProviderError::Failed(format!(
            "provider {} has no asynchronous {} operations to poll",
            self.service().name,
            kind.as_str()
        )))
    }

    /// Checks that the backend answers.
    async fn health(&self) -> Result<()>;

    /// The topic administration of a messaging service, for the services that have topics.
    fn topics(&self) -> Option<&dyn TopicAdmin> {
        None
    }
}

/// What a topic is asked to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    /// Number of partitions.
    pub partitions: i32,
    /// `retention.ms` of the topic.
    pub retention_ms: i64,
}

/// A topic as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    /// Full topic name (with the instance prefix).
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// `retention.ms`, when the cluster reports it.
    pub retention_ms: Option<i64>,
}

/// Topics of an instance, managed through the broker (the cluster does not auto-create them).
#[async_trait]
pub trait TopicAdmin: Send + Sync {
    /// Fills in the plan's defaults and checks name and spec against the instance's prefix and
    /// the plan's bounds; the message of an `Err` is shown to the platform as a 400.
    fn check_topic(
        &self,
        instance_id: &str,
        plan: &PlanDef,
        name: &str,
        partitions: Option<i32>,
        retention_ms: Option<i64>,
    ) -> Result<TopicSpec, String>;

    /// Whether a topic name belongs to the instance (lies under its prefix).
    fn owns_topic(&self, instance_id: &str, name: &str) -> bool;

    /// Creates the topic; when it exists already, reports it as it is (the caller compares).
    async fn create_topic(&self, name: &str, spec: TopicSpec) -> Result<(TopicInfo, bool)>;

    /// Deletes the topic; false when there was none.
    async fn delete_topic(&self, name: &str) -> Result<bool>;

    /// Describes one topic.
    async fn get_topic(&self, name: &str) -> Result<Option<TopicInfo>>;

    /// The instance's topics.
    async fn list_topics(&self, instance_id: &str) -> Result<Vec<TopicInfo>>;
}
