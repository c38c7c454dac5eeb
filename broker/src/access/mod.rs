//! Who may do what: the caller ([`Actor`]), their role on an app (owner, collaborator, team
//! member or admin, checked by [`app_for`] on every app-scoped route), teams, collaborators,
//! and the recorded, revocable tokens behind every bearer token.
//!
//! `check` is the rule every domain uses; `domain` holds the [`Access`] handle, to which
//! `account`, `tokens`, `teams` and `collaborators` each add an `impl` block, `transfer` moves
//! an app to a new owner; `views` are the
//! API's shapes. Nothing here imports the platform or dyno domains: they import this.

mod account;
mod actor;
mod check;
mod collaborators;
mod domain;
mod people;
mod teams;
mod tokens;
mod transfer;
mod views;

pub use actor::Actor;
pub use check::{app_for, load_app, role_of, visible_apps, Role};
pub use collaborators::NewCollaborator;
pub use domain::Access;
pub use people::validate_person;
pub use teams::{team_for, NewTeam, TeamMemberChange};
pub use tokens::{IssuedToken, NewToken, NewTokenFor};
pub use transfer::{transfer, Transfer};
pub use views::{AccountView, CollaboratorView, PersonRef, TeamMemberView, TeamView, TokenView};
