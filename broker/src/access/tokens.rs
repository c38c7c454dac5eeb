//! Recorded, revocable tokens: issuing (the record first, then the signature), checking a
//! bearer token against its record on every request, listing and revoking.
//!
//! The state store is the truth and nothing is cached: a revoked token is refused by the very
//! next request on every replica that shares the store. The cost is one primary-key read per
//! request (BENCHMARKS.md measures it).

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::actor::Actor;
use super::domain::Access;
use super::people::validate_person;
use super::views::{PersonRef, TokenView};
use crate::auth::{authorize, Claims, Scope};
use crate::catalog::clip;
use crate::db::models::TokenRecord;
use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::provisioning::{audit, RequestMeta};
use crate::shapes::iso;

/// Longest lifetime of a token made through the API: one year.
const MAX_TTL_SECS: i64 = 366 * 86_400;
/// Lifetime of a token made through the API when none is asked for: thirty days.
const DEFAULT_TTL_SECS: i64 = 30 * 86_400;

/// `POST /account/tokens`: a new token for the caller.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for (at most 200 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// `platform` (the default), `provider`, or `admin` (only with an admin token): never
    /// more than the caller's own.
    #[serde(default)]
    pub scope: Option<String>,
    /// Lifetime in seconds (default 30 days, at most 366 days).
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// `POST /admin/tokens`: a new token for someone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenFor {
    /// The person it speaks for.
    pub user: String,
    /// What it is for (at most 200 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// `platform` (the default), `provider` or `admin`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Lifetime in seconds (default 30 days, at most 366 days).
    #[serde(default)]
    pub expires_in: Option<i64>,
}

impl NewTokenFor {
    /// The person, and the token's terms.
    pub fn split(self) -> (String, NewToken) {
        let terms = NewToken {
            description: self.description,
            scope: self.scope,
            expires_in: self.expires_in,
        };
        (self.user, terms)
    }
}

/// A token just made: its record and the bearer token, which is shown only now.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The record.
    pub record: TokenRecord,
    /// The signed bearer token.
    pub token: String,
}

fn token_view(r: &TokenRecord, token: Option<String>) -> TokenView {
    TokenView {
        id: r.id.clone(),
        user: PersonRef { id: r.person.clone() },
        scope: r.scope.clone(),
        description: r.description.clone(),
        created_at: iso(r.created_at),
        expires_at: iso(r.expires_at),
        revoked_at: r.revoked_at.map(iso),
        revoked_by: r.revoked_by.clone(),
        token,
    }
}

impl IssuedToken {
    /// The view of the new token, with the bearer token in it.
    pub fn view(&self) -> TokenView {
        token_view(&self.record, Some(self.token.clone()))
    }
}

impl Access {
    /// Records a token for `person` and signs it. `by` is the audit identity of whoever asked
    /// (`None` for the `broker token` command).
    pub async fn issue(
        &self,
        person: &str,
        scope: Scope,
        ttl_secs: i64,
        description: String,
        by: Option<RequestMeta>,
    ) -> Result<IssuedToken> {
        validate_person(person)?;
        // Ten years at most, so that no expiry overflows (the API's own bound is tighter).
        if !(1..=10 * MAX_TTL_SECS).contains(&ttl_secs) {
            return Err(Error::BadRequest(format!(
                "a token lives between 1 second and {} seconds",
                10 * MAX_TTL_SECS
            )));
        }
        let now = now_ms();
        let record = TokenRecord {
            id: uuid::Uuid::new_v4().to_string(),
            person: person.to_string(),
            scope: scope.as_str().to_string(),
            description,
            created_at: now,
            expires_at: now + ttl_secs * 1000,
            revoked_at: None,
            revoked_by: None,
        };
        let token = self
            .keys
            .mint(&record.id, person, scope, now / 1000, now / 1000 + ttl_secs)?;
        let row = record.clone();
        let meta = by.unwrap_or(RequestMeta {
            request_id: None,
            actor: Some("broker token".into()),
        });
        self.db
            .write(move |c| {
                row.insert(c)?;
                let detail = json!({ "person": row.person, "scope": row.scope });
                audit(c, &meta, "access.token.create", format!("token/{}", row.id), detail)
            })
            .await?;
        Ok(IssuedToken { record, token })
    }

    /// The caller of a request with this `Authorization` header, when its token is valid,
    /// recorded and not revoked (401 otherwise) and its scope allows `needed` (403).
    pub async fn authenticate(&self, header: Option<&str>, needed: Scope, request_id: String) -> Result<Actor> {
        let claims = authorize(header, &self.keys, needed)?;
        let id = claims.jti.clone();
        let record = self.db.run(move |c| TokenRecord::get(c, &id)).await?;
        check_record(&claims, record.as_ref())?;
        Ok(Actor::new(claims, request_id))
    }

    /// Records that an admin token was used on an app-scoped route.
    pub async fn audit_admin_use(&self, actor: &Actor, method: &str, path: &str) -> Result<()> {
        let (meta, target) = (actor.meta(), format!("route{}", clip(path)));
        let detail = json!({ "method": method, "token": actor.token_id });
        self.db
            .write(move |c| audit(c, &meta, "access.admin.use", target.clone(), detail.clone()))
            .await
    }

    /// `POST /account/tokens`: a new token for the caller, of at most the caller's scope.
    pub async fn create_token(&self, actor: &Actor, req: NewToken) -> Result<TokenView> {
        let person = actor.sub.clone();
        self.create_token_for(actor, &person, req).await
    }

    /// `POST /admin/tokens`: a new token for anyone (the caller must hold an admin token, which
    /// the route's extractor checked), as an operator hands out credentials.
    pub async fn create_token_for(&self, actor: &Actor, person: &str, req: NewToken) -> Result<TokenView> {
        let scope = match req.scope.as_deref() {
            None => Scope::Platform,
            Some(s) => Scope::parse(s).ok_or_else(|| {
                Error::BadRequest(format!("scope must be platform, admin or provider, not {}", clip(s)))
            })?,
        };
        if !actor.scope.allows(scope) {
            return Err(Error::Forbidden(format!(
                "a {} token cannot make a {} token",
                actor.scope.as_str(),
                scope.as_str()
            )));
        }
        let ttl = req.expires_in.unwrap_or(DEFAULT_TTL_SECS);
        if !(1..=MAX_TTL_SECS).contains(&ttl) {
            return Err(Error::BadRequest(format!(
                "expires_in must be between 1 and {MAX_TTL_SECS} seconds"
            )));
        }
        let description = req.description.unwrap_or_default();
        if description.chars().count() > 200 || description.contains('\0') {
            return Err(Error::BadRequest(
                "description must be at most 200 characters, without NUL".into(),
            ));
        }
        let issued = self.issue(person, scope, ttl, description, Some(actor.meta())).await?;
        Ok(issued.view())
    }

    /// The caller's tokens, newest first (an admin may ask for anyone's, or everyone's).
    pub async fn list_tokens(&self, actor: &Actor, person: Option<String>) -> Result<Vec<TokenView>> {
        let person = match person {
            Some(p) if actor.is_admin() => Some(p),
            Some(p) if p != actor.sub => {
                return Err(Error::Forbidden(
                    "only an admin may list another person's tokens".into(),
                ))
            }
            Some(p) => Some(p),
            None if actor.is_admin() => None,
            None => Some(actor.sub.clone()),
        };
        let list = self.db.run(move |c| TokenRecord::list(c, person.as_deref())).await?;
        Ok(list.iter().map(|r| token_view(r, None)).collect())
    }

    /// One of the caller's tokens (an admin sees anyone's); 404 for another person's.
    pub async fn get_token(&self, actor: &Actor, id: String) -> Result<TokenView> {
        let record = self.own_token(actor, id).await?;
        Ok(token_view(&record, None))
    }

    /// Revokes one of the caller's tokens (an admin may revoke anyone's). Revoking twice
    /// changes nothing and answers the same.
    pub async fn revoke_token(&self, actor: &Actor, id: String) -> Result<TokenView> {
        let record = self.own_token(actor, id).await?;
        let (meta, by) = (actor.meta(), actor.sub.clone());
        let record = self
            .db
            .write(move |c| {
                TokenRecord::revoke(c, &record.id, &by, now_ms())?;
                let detail = json!({ "person": record.person });
                audit(c, &meta, "access.token.revoke", format!("token/{}", record.id), detail)?;
                TokenRecord::get(c, &record.id)?.ok_or_else(|| Error::NotFound("the token is gone".into()))
            })
            .await?;
        Ok(token_view(&record, None))
    }

    async fn own_token(&self, actor: &Actor, id: String) -> Result<TokenRecord> {
        let shown = clip(&id);
        let record = self.db.run(move |c| TokenRecord::get(c, &id)).await?;
        match record {
            Some(r) if actor.is_admin() || r.person == actor.sub => Ok(r),
            _ => Err(Error::NotFound(format!("token {shown} does not exist"))),
        }
    }
}

/// A verified token is accepted only as recorded: known, not revoked, for the same person and
/// scope.
fn check_record(claims: &Claims, record: Option<&TokenRecord>) -> Result<()> {
    let record = record.ok_or_else(|| {
        Error::Unauthorized(
            "the token is not known to this broker: make one with `broker token` or POST /account/tokens".into(),
        )
    })?;
    if record.revoked_at.is_some() {
        return Err(Error::Unauthorized("the token has been revoked".into()));
    }
    if record.person != claims.sub || record.scope != claims.scope.as_str() {
        return Err(Error::Unauthorized("the token does not match its record".into()));
    }
    Ok(())
}
