//! The platform domain's handle ([`Platform`]) and its caller ([`Actor`]); the resource files
//! each add their own `impl Platform` block.

use std::time::Duration;

pub use crate::access::Actor;
use crate::access::{app_for, Role};
use crate::crypto::Sealer;
use crate::db::models::App;
use crate::db::Db;
use crate::error::Result;
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

    /// The app, when the caller's role on it is at least `role`: checked before anything else
    /// of a request is, so that a stranger learns nothing, not even that their plan is wrong.
    pub(super) async fn app_access(&self, app: &str, actor: &Actor, role: Role) -> Result<App> {
        let (app, actor) = (app.to_string(), actor.clone());
        self.db.run(move |c| app_for(c, &app, &actor, role)).await
    }

    /// The provisioning domain.
    pub fn provisioning(&self) -> &Provisioning {
        &self.provisioning
    }
}
