//! Rows of the state store, one file per entity, each holding that entity's queries.

mod addon;
mod app;
mod attachment;
mod audit;
mod binding;
mod build;
mod buildpack_installation;
mod callback_nonce;
mod collaborator;
mod domain;
mod formation;
mod instance;
mod instance_config;
mod operation;
mod provider;
mod release;
mod slug;
mod supervisor_lease;
mod team;
mod team_member;
mod token;

pub use addon::{Addon, AddonState};
pub use app::App;
pub use attachment::{Attachment, AttachmentState};
pub use audit::AuditEntry;
pub use binding::{binding_state, Binding};
pub use build::Build;
pub use buildpack_installation::BuildpackInstallation;
pub use callback_nonce::remember_signature;
pub use collaborator::Collaborator;
pub use domain::Domain;
pub use formation::Formation;
pub use instance::{instance_state, Instance};
pub use instance_config::InstanceConfig;
pub use operation::{op_state, Operation};
pub use provider::{AdminScope, MarketProvider, ProviderState};
pub use release::{
    ConfigSealer, Release, FAILED as RELEASE_FAILED, PENDING as RELEASE_PENDING, SUCCEEDED as RELEASE_SUCCEEDED,
};
pub use slug::Slug;
pub use supervisor_lease::SupervisorLease;
pub use team::Team;
pub use team_member::{TeamMember, TeamRole};
pub use token::TokenRecord;
