//! The platform API's domain (Heroku's shapes): apps, config vars and releases, add-ons and
//! attachments.
//!
//! An add-on is an OSB service instance whose id is the add-on id, and an attachment is an OSB
//! binding whose id is the attachment id; both go through the same
//! [`Provisioning`](crate::provisioning::Provisioning) code as the OSB API. Config vars live in
//! releases, each a sealed snapshot with a version; the current config is the latest release's.
//!
//! Crash safety: rows are written first (`provisioning`/`pending`/`detaching`/`deprovisioning`),
//! the OSB operations are idempotent per id, and the release that publishes an attachment's
//! credentials is written exactly once, in the transaction that moves the attachment from
//! `pending` to `attached`. [`Platform::reconcile`], run in a loop, finishes whatever a request
//! (or a crashed broker) left half-way, and asynchronous provisions.
//!
//! One file per resource, each with its own `impl Platform` block: `apps`, `releases` (config
//! vars too), `addons`, `attachments`, `audit`, `topics` (a Kafka add-on's topics), `domains`
//! (an app's hostnames, on `hostnames`: the router's domain and the hostname rules);
//! `lifecycle` moves add-ons along after their requests (and runs the reconciler); `plans` maps
//! add-ons onto the catalog; `addon_refs` resolves what people name an add-on by; `names` holds
//! the name rules; `views` the API's shapes; `domain` the [`Platform`] handle and its
//! [`Actor`]. The files lean on each other in layers, never upwards: `topics` on `addons`;
//! `apps` and `addons` on `lifecycle`; `lifecycle` on `attachments`; `attachments` on
//! `releases` and `plans`; all of them on `addon_refs`, `names`, `hostnames`, `views` and
//! `domain`. This
//! module only re-exports, so they name each other as `super::<file>::…`, never `super::…`
//! (which would be an import cycle).

mod addon_refs;
mod addons;
mod apps;
mod attachments;
mod audit;
mod domain;
mod domains;
mod hostnames;
mod lifecycle;
mod names;
mod plans;
mod releases;
mod topics;
mod views;

pub use addons::{AddonCreated, NewAddon};
pub use apps::AppChange;
pub use domain::{Actor, Platform};
pub use hostnames::AppHosts;
pub use names::{validate_app_name, validate_var_name};
pub(crate) use plans::unknown_service;
pub(crate) use releases::{current_release, insert_release, latest_release, open_config};
pub use views::{iso, AddonView, AppView, AttachmentView, AuditView, DomainView, IdRef, NameRef, ReleaseView};
