//! The platform domain's handle ([`Platform`]) and its caller ([`Actor`]); the resource files
//! each add their own `impl Platform` block.

use std::time::Duration;

use super::hostnames::AppHosts;
pub use crate::access::Actor;
use crate::crypto::Sealer;
use crate::db::Db;
use crate::provisioning::Provisioning;

/// The platform domain.
#[derive(Clone)]
pub struct Platform {
    pub(super) db: Db,
    pub(super) provisioning: Provisioning,
    pub(super) sealer: Sealer,
    pub(super) create_wait: Duration,
    pub(super) hosts: AppHosts,
}

impl Platform {
    /// The platform domain over the state store and the provisioning domain; apps are
    /// reached at `hosts` (their `web_url`, default hostname and domains).
    pub fn new(db: Db, provisioning: Provisioning, sealer: Sealer, create_wait: Duration, hosts: AppHosts) -> Platform {
        Platform {
            db,
            provisioning,
            sealer,
            create_wait,
            hosts,
        }
    }

    /// The provisioning domain.
    pub fn provisioning(&self) -> &Provisioning {
        &self.provisioning
    }
}
