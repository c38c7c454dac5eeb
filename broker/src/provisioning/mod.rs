//! OSB semantics as values: every request becomes a decision taken in one serializable
//! transaction (is this new, identical, conflicting, already running?), and the answer is a
//! [`Reply`] the HTTP layer turns into 200/201/202, or an [`Error`](crate::error::Error) it turns into 4xx.
//!
//! Mutations write their operation row first and the provider acts afterwards, in
//! [`crate::jobs`]; a request that cannot wait (`accepts_incomplete=true`) gets the operation id
//! at once, one that can waits a bounded time for the same operation to finish.
//!
//! One file per resource: [`instances`] (provision, update, deprovision), [`bindings`] (bind,
//! unbind), [`topics`] (the Kafka topic extension); what the platform sees lives in [`views`],
//! and what they share (the handle, replies, decisions and their settling) in [`domain`].

mod bindings;
mod domain;
mod instances;
mod topics;
mod views;

pub use bindings::BindInput;
pub use domain::{audit, validate_id, Provisioning, Reply, RequestMeta, MAX_ID_LEN};
pub use instances::{ProvisionInput, UpdateInput};
pub use topics::TopicView;
pub use views::{BindingView, InstanceView, LastOperation};
