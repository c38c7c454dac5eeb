//! What the platform API returns: the view types of its resources.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

pub use crate::shapes::{iso, IdRef, NameRef};

/// An app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppView {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// The person who owns it (for a team's app: who created it there).
    pub owner: String,
    /// The team that owns it, if one does: its admins act as owners, its members as
    /// collaborators.
    pub team: Option<NameRef>,
    /// `http://{app}.{router.domain}[:port]/`, where the router serves it; `null` when this
    /// broker runs no router.
    pub web_url: Option<String>,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// A hostname the router serves an app at (Heroku's domain).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainView {
    /// UUID; the default hostname's is a UUID v5 of the app id (it is not stored).
    pub id: String,
    /// Lowercase, without a port: `www.example.com`, or the default `{app}.{router.domain}`.
    pub hostname: String,
    /// `heroku` for the app's default hostname, `custom` for one added to it.
    pub kind: String,
    /// For a custom domain, what its DNS record should point at: the app's default hostname
    /// (`{app}.{router.domain}`); `null` for the default hostname itself.
    pub cname: Option<String>,
    /// `succeeded`: the router serves it.
    pub status: String,
    /// The app.
    pub app: NameRef,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// A release.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseView {
    /// UUID.
    pub id: String,
    /// 1, 2, 3 …
    pub version: i32,
    /// What changed.
    pub description: String,
    /// `service:plan` of the add-ons attached at that release.
    pub addon_plan_names: Vec<String>,
    /// The config snapshot (every value: whoever may read the release may read the config).
    pub config_vars: BTreeMap<String, String>,
    /// Whether this is the app's current release: the latest that succeeded, the one its
    /// dynos run.
    pub current: bool,
    /// `pending` while its release phase (the Procfile's `release` command) has not finished,
    /// `succeeded` (it passed, or its code has no `release` type), or `failed` (the release
    /// phase failed: the dynos stay on the current release).
    pub status: String,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// The app.
    pub app: NameRef,
    /// The slug (code) it runs; `null` before the first build.
    pub slug: Option<IdRef>,
}

/// An add-on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddonView {
    /// UUID (also the OSB instance id).
    pub id: String,
    /// Name.
    pub name: String,
    /// The owning app.
    pub app: NameRef,
    /// `service:plan`.
    pub plan: String,
    /// Service name.
    pub service: String,
    /// `provisioning`, `provisioned`, `deprovisioning` or `failed`.
    pub state: String,
    /// Config vars the add-on's attachments set (names only).
    pub config_vars: Vec<String>,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// An attachment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    /// UUID (also the OSB binding id).
    pub id: String,
    /// Config var prefix.
    pub name: String,
    /// The add-on.
    pub addon: NameRef,
    /// The app.
    pub app: NameRef,
    /// `pending`, `attached` or `detaching`.
    pub state: String,
    /// ISO 8601 UTC.
    pub created_at: String,
}

/// An audit log entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    /// Entry id.
    pub id: String,
    /// ISO 8601 UTC.
    pub at: String,
    /// Request id.
    pub request_id: Option<String>,
    /// Who (token subject or OSB originating identity).
    pub actor: Option<String>,
    /// What (`platform.app.create` …).
    pub action: String,
    /// On what (`app/<id>` …).
    pub target: String,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: Value,
}
