//! The platform domain's handle ([`Platform`]) and its caller ([`Actor`]); the resource files
//! each add their own `impl Platform` block.

use std::time::Duration;

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
}

impl Platform {
    /// The platform domain over the state store and the provisioning domain.
    pub fn new(db: Db, provisioning: Provisioning, sealer: Sealer, create_wait: Duration) -> Platform {
        Platform {
            db,
            provisioning,
            sealer,
            create_wait,
        }
    }

    /// The provisioning domain.
    pub fn provisioning(&self) -> &Provisioning {
        &self.provisioning
    }
}
