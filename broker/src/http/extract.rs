//! Extractors: who is calling, known before a handler runs. A bearer token of the needed scope
//! gives a [`Caller`] (platform, admin and provider APIs); OSB basic auth and the API version
//! give an [`OsbCaller`]. A failed check answers in its API's error format.
//!
//! Extractors that take the body read all of it before checking anything, as the handlers did
//! before: a body over the size limit is a 413 whoever sends it, and a refused request never
//! leaves a half-read body on the connection.

use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures::future::LocalBoxFuture;
use subtle::ConstantTimeEq;

use super::errors::{ApiError, OsbError};
use super::state::{OsbState, PlatformState};
use crate::auth::Scope;
use crate::catalog::clip;
use crate::error::Error;
use crate::platform::Actor;
use crate::provisioning::RequestMeta;

/// Lowest supported minor version of OSB 2.x.
pub const MIN_MINOR_VERSION: u32 = 13;

/// The id of the current request, from the `Request-Id` header when it is sane, else fresh.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id the request-id middleware gave this request.
    pub fn of(req: &HttpRequest) -> RequestId {
        req.extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string()))
    }
}

impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(RequestId::of(req)))
    }
}

/// `Basic base64(user:password)` → `(user, password)`. The scheme name is case-insensitive
/// (RFC 7235); anything malformed is `None`.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The scope a [`Caller`] needs.
pub trait NeededScope {
    /// The scope.
    const SCOPE: Scope;
}

/// Marker: the `platform` scope (an `admin` token also does).
pub enum PlatformScope {}
/// Marker: the `admin` scope.
pub enum AdminScope {}
/// Marker: the `provider` scope (an `admin` token also does).
pub enum ProviderScope {}

impl NeededScope for PlatformScope {
    const SCOPE: Scope = Scope::Platform;
}
impl NeededScope for AdminScope {
    const SCOPE: Scope = Scope::Admin;
}
impl NeededScope for ProviderScope {
    const SCOPE: Scope = Scope::Provider;
}

/// A request with a bearer token of scope `S` (401 without a valid one, 403 with another
/// scope), and its body, read before the token is checked and parsed by the handler after.
pub struct Caller<S> {
    /// Who is calling.
    pub actor: Actor,
    /// The raw body.
    pub body: web::Bytes,
    scope: PhantomData<fn() -> S>,
}

/// A caller of the platform API.
pub type PlatformCaller = Caller<PlatformScope>;
/// A caller of the admin API.
pub type AdminCaller = Caller<AdminScope>;
/// A provider submitting its manifest.
pub type ProviderCaller = Caller<ProviderScope>;

/// The caller behind the request's bearer token (checked against its record), and an audit
/// entry when an admin token acts on an app-scoped route.
async fn bearer(req: &HttpRequest, needed: Scope) -> Result<Actor, Error> {
    let state = req
        .app_data::<web::Data<PlatformState>>()
        .ok_or_else(|| Error::Internal("the platform state is not registered".into()))?;
    let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let actor = state.access.authenticate(header, needed, RequestId::of(req).0).await?;
    if actor.is_admin() && app_scoped(req) {
        state
            .access
            .audit_admin_use(&actor, req.method().as_str(), req.path())
            .await?;
    }
    Ok(actor)
}

/// The platform caller behind a request's bearer token, without reading its body: for a
/// WebSocket handshake, whose body is the connection that follows.
pub async fn platform_actor(req: &HttpRequest) -> Result<Actor, Error> {
    bearer(req, Scope::Platform).await
}

/// Whether a request is on an app-scoped route (apps and what belongs to them, add-ons and
/// attachments), where an admin token's use is audited.
fn app_scoped(req: &HttpRequest) -> bool {
    let pattern = req.match_pattern().unwrap_or_default();
    ["/apps", "/addons", "/addon-attachments"]
        .iter()
        .any(|p| pattern == *p || pattern.starts_with(&format!("{p}/")))
}

impl<S: NeededScope + 'static> FromRequest for Caller<S> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await?;
            let actor = bearer(&req, S::SCOPE).await.map_err(ApiError::from)?;
            Ok(Caller {
                actor,
                body,
                scope: PhantomData,
            })
        })
    }
}

/// An OSB request that passed basic auth (401) and the `X-Broker-API-Version` check (412), in
/// that order, with its audit identity. Reads no body: for `GET`s.
pub struct OsbCaller {
    /// Request id and originating identity, for the audit log.
    pub meta: RequestMeta,
}

/// An [`OsbCaller`] whose body was read before the checks: for requests that carry one.
pub struct OsbCallerWithBody {
    /// Request id and originating identity, for the audit log.
    pub meta: RequestMeta,
    /// The raw body.
    pub body: web::Bytes,
}

/// Checks auth, then the API version, and reads the audit identity.
fn osb_guard(req: &HttpRequest) -> Result<RequestMeta, Error> {
    let state = req
        .app_data::<web::Data<OsbState>>()
        .ok_or_else(|| Error::Internal("the OSB state is not registered".into()))?;
    let unauthorized = || Error::Unauthorized("missing or wrong basic auth credentials".into());
    let (user, pass) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(basic_credentials)
        .ok_or_else(unauthorized)?;
    let ok = user.as_bytes().ct_eq(state.username.as_bytes()) & pass.as_bytes().ct_eq(state.password.as_bytes());
    if !bool::from(ok) {
        return Err(unauthorized());
    }

    let version = req.headers().get("x-broker-api-version").and_then(|v| v.to_str().ok());
    let supported = version
        .and_then(|v| v.strip_prefix("2."))
        .and_then(|minor| minor.parse::<u32>().ok())
        .is_some_and(|minor| minor >= MIN_MINOR_VERSION);
    if !supported {
        return Err(Error::PreconditionFailed(format!(
            "X-Broker-API-Version must be 2.{MIN_MINOR_VERSION} or a later 2.x; got {}",
            version.map(clip).unwrap_or_else(|| "none".into())
        )));
    }

    let actor = req
        .headers()
        .get("x-broker-api-originating-identity")
        .and_then(|v| v.to_str().ok())
        .map(decode_identity);
    Ok(RequestMeta {
        request_id: Some(RequestId::of(req).0),
        actor,
    })
}

/// `platform base64(json)` → `platform {json}`; kept raw (clipped) when it does not decode.
fn decode_identity(header: &str) -> String {
    let mut parts = header.splitn(2, ' ');
    let platform = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or_default();
    match B64.decode(value.trim()).ok().and_then(|b| String::from_utf8(b).ok()) {
        Some(json) => clip(&format!("{platform} {json}")),
        None => clip(header),
    }
}

impl FromRequest for OsbCaller {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            osb_guard(req)
                .map(|meta| OsbCaller { meta })
                .map_err(|e| OsbError::from(e).into()),
        )
    }
}

impl FromRequest for OsbCallerWithBody {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await?;
            let meta = osb_guard(&req).map_err(OsbError::from)?;
            Ok(OsbCallerWithBody { meta, body })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_split_at_the_first_colon_and_refuse_the_malformed() {
        let header = format!("Basic {}", B64.encode("user:pa:ss"));
        assert_eq!(basic_credentials(&header), Some(("user".into(), "pa:ss".into())));
        let lower = format!("basic  {}", B64.encode("a:b"));
        assert_eq!(basic_credentials(&lower), Some(("a".into(), "b".into())));
        for bad in ["", "Basic", "Bearer x", "Basic !!!", "Basic Zm9v"] {
            assert_eq!(basic_credentials(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_originating_identity_is_decoded_or_kept_raw() {
        let header = format!("cloudfoundry {}", B64.encode(r#"{"user_id":"u"}"#));
        assert_eq!(decode_identity(&header), r#"cloudfoundry {"user_id":"u"}"#);
        assert_eq!(decode_identity("kubernetes !!"), "kubernetes !!");
    }
}
