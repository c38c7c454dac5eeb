//! The dyno manager: builds and slugs, the formation, and the supervision of the dynos that a
//! [`Runtime`] runs.
//!
//! The desired state is in the store: an app's current release (its slug and sealed config
//! vars) and its formation (quantity and size per process type). What runs is what the runtime
//! lists, each container labelled with its app, dyno name, release and size. A loop
//! ([`Dynos::run`]) compares the two every `runtime.tick_ms` and acts:
//!
//! - a missing dyno is started (a crashed one after an exponential backoff, reset by a new
//!   release);
//! - a dyno of an older release, size or command is replaced, one dyno of the app at a time:
//!   the replacement starts next to it and the old one is stopped once the new one is up, so a
//!   process type with two or more dynos never drops to zero. A release must be
//!   `restart_debounce_ms` old before it rolls out, so releases that arrive together (several
//!   add-ons attached at once) restart each dyno once, on the newest;
//! - extra dynos (scale down, duplicates found after a broker restart, deleted apps) are
//!   stopped: SIGTERM, then SIGKILL after `stop_grace_ms`.
//!
//! Nothing here is only in memory that a restart would need: a new broker lists the runtime's
//! containers, adopts those that match the formation, and restarts or stops the rest.
//!
//! A new release whose code has a `release` process type is `pending` until its release
//! phase passes (`phases.rs`); only releases that succeeded are desired.
//!
//! One file per part: `builds.rs` (builds and slugs), `build_output.rs` (their live output),
//! `phases.rs` (release phases), `formation.rs`, `dynos.rs` (listing, restart, stop, one-off
//! runs), `attach.rs` (interactive one-off dynos), `logs.rs`, `supervisor.rs` (the loop) with
//! `plan.rs` (its decisions, without I/O), `launch.rs` (starting and stopping containers),
//! `containers.rs` (reading their labels), `views.rs` (the wire types) and `manager.rs` (the
//! shared handle).

mod attach;
mod build_output;
mod buildpack_installations;
mod builds;
mod compile;
mod containers;
#[allow(clippy::module_inception)]
mod dynos;
mod formation;
mod launch;
mod lease;
mod logs;
mod manager;
mod network;
mod phases;
mod plan;
mod routing;
mod supervisor;
mod views;

pub use attach::AttachTarget;
pub use launch::{Size, SIZES};
pub use manager::{Dynos, Home};
pub use views::{
    BuildView, BuildpackInstallationView, BuildpackInstallationsUpdate, BuildpackRef, BuildpackUpdate, DynoView,
    FormationUpdate, FormationView, LogLine, LogQuery, OutputView, ReleaseRef, RunRequest, SlugView,
};
