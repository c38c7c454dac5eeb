//! What the handlers share, registered once as actix app data: the platform side's state
//! (platform, admin and provider APIs, dynos) and the OSB side's.

use crate::access::Access;
use crate::platform::Platform;
use crate::provisioning::Provisioning;

/// What the platform handlers share.
pub struct PlatformState {
    /// The platform domain.
    pub platform: Platform,
    /// Accounts, teams, collaborators and the recorded tokens every bearer token is checked
    /// against.
    pub access: Access,
    /// The dyno manager.
    pub dynos: crate::dynos::Dynos,
    /// Third-party providers.
    pub marketplace: crate::marketplace::Marketplace,
}

/// What the OSB handlers share.
pub struct OsbState {
    /// The provisioning domain.
    pub provisioning: Provisioning,
    /// Basic auth user.
    pub username: String,
    /// Basic auth password.
    pub password: String,
    /// `Retry-After` seconds for in-progress operations.
    pub retry_after_secs: u64,
}
