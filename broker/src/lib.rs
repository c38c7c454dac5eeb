//! addon-broker: the add-on marketplace broker behind a Heroku-style platform.
//!
//! Layers point one way: [`http`] → [`provisioning`] → [`db`], [`jobs`] and the `providers`
//! crate. See `ARCHITECTURE.md`.

pub mod access;
pub mod auth;
pub mod buildpacks;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
mod config_builds;
mod config_debug;
mod config_router;
pub mod crypto;
pub mod db;
pub mod devservers;
pub mod dynos;
pub mod error;
pub mod git;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod marketplace;
pub mod node;
pub mod openapi;
pub mod platform;
pub mod provisioning;
pub mod router;
pub mod shapes;
pub mod slugs;
pub mod startup;
pub mod uploads;

/// mimalloc for every binary of the broker: the router allocates and frees small buffers on
/// each lane for every request, where glibc's allocator spent measurable time consolidating
/// (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
