//! What the access routes return: the caller's account, tokens, teams, members and
//! collaborators.

use serde::Serialize;
use utoipa::ToSchema;

use crate::shapes::NameRef;

/// A person, by their token subject.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonRef {
    /// The token subject.
    pub id: String,
}

/// Who the caller is (`GET /account`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    /// The token subject.
    pub id: String,
    /// The scope of the token in use: `platform`, `admin` or `provider`.
    pub scope: String,
    /// The id of the token in use (see `/account/tokens`).
    pub token_id: String,
    /// The teams the caller belongs to, with their role in each.
    pub teams: Vec<TeamView>,
}

/// A recorded token. The token itself appears once, in the answer that made it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    /// UUID (the token's `jti`).
    pub id: String,
    /// Whom it speaks for.
    pub user: PersonRef,
    /// `platform`, `admin` or `provider`.
    pub scope: String,
    /// What it is for.
    pub description: String,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub expires_at: String,
    /// ISO 8601 UTC, when it was revoked.
    pub revoked_at: Option<String>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// The bearer token: only in the answer to `POST /account/tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A team.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamView {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The caller's role in it (`admin` or `member`), `null` for an admin token's caller who
    /// is not a member.
    pub role: Option<String>,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// A member of a team.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamMemberView {
    /// UUID.
    pub id: String,
    /// The team.
    pub team: NameRef,
    /// The person.
    pub user: PersonRef,
    /// `admin` or `member`.
    pub role: String,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// A collaborator of an app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollaboratorView {
    /// UUID.
    pub id: String,
    /// The app.
    pub app: NameRef,
    /// The person.
    pub user: PersonRef,
    /// Always `collaborator` (the owner is the app's `owner`).
    pub role: String,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}
