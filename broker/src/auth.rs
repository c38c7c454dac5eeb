//! Bearer tokens of the platform and admin APIs: HS256 JWTs with a `scope` claim (`platform`,
//! `admin`, or `provider` for provider registration), minted by `broker token` with the broker's
//! key.

use std::fmt;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::error::{Error, Result};

/// Issuer of every token.
pub const ISSUER: &str = "addon-broker";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Apps, config vars, releases, add-ons and attachments.
    Platform,
    /// Everything, the admin API included.
    Admin,
    /// Submitting a provider manifest (`POST /provider/manifests`) and nothing else.
    Provider,
}

impl Scope {
    /// Parses `platform` or `admin`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "platform" => Some(Scope::Platform),
            "admin" => Some(Scope::Admin),
            "provider" => Some(Scope::Provider),
            _ => None,
        }
    }

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Platform => "platform",
            Scope::Admin => "admin",
            Scope::Provider => "provider",
        }
    }

    /// Whether a token of this scope may act where `needed` is required.
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Admin || self == needed
    }
}

/// The claims of a broker token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token speaks for.
    pub sub: String,
    /// What it may do.
    pub scope: Scope,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Always [`ISSUER`].
    pub iss: String,
    /// The token's id: its record in the state store, which says whether it was revoked.
    pub jti: String,
}

/// Signs and checks tokens. `Debug` never shows the key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKeys(<key redacted>)")
    }
}

impl TokenKeys {
    /// Keys from a shared secret of at least 32 bytes.
    pub fn from_secret(secret: &[u8]) -> Result<TokenKeys> {
        if secret.len() < 32 {
            return Err(Error::Internal("auth.jwt_secret must be at least 32 bytes".into()));
        }
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }

    /// The keys the settings name: `auth.jwt_secret`, else `<data_dir>/jwt-secret` (created
    /// with mode 0600 when absent).
    pub fn from_settings(settings: &Settings) -> Result<TokenKeys> {
        if !settings.auth.jwt_secret.is_empty() {
            return TokenKeys::from_secret(settings.auth.jwt_secret.as_bytes());
        }
        let secret = crate::crypto::private_file(&settings.data_dir.join("jwt-secret"), || {
            providers::names::random_password(48)
        })?;
        TokenKeys::from_secret(secret.as_bytes())
    }

    /// A signed token with id `jti` for `sub` with `scope`, valid from `iat` until `exp`
    /// (seconds since the epoch). Only [`Access::issue`](crate::access::Access::issue), which
    /// records it first, should call this: the broker refuses tokens it has no record of.
    pub fn mint(&self, jti: &str, sub: &str, scope: Scope, iat: i64, exp: i64) -> Result<String> {
        let claims = Claims {
            sub: sub.to_string(),
            scope,
            iat,
            exp,
            iss: ISSUER.to_string(),
            jti: jti.to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal("signing a token", e))
    }

    /// Checks a token's signature, expiry and issuer; a 401 that says which check failed.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 0;
        decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                let why = match e.kind() {
                    K::ExpiredSignature => "the token has expired",
                    K::InvalidSignature => "the token's signature is not valid",
                    K::InvalidIssuer => "the token was not issued by this broker",
                    K::InvalidAlgorithm => "the token must be signed with HS256",
                    K::Json(_) | K::MissingRequiredClaim(_) => {
                        "the token's claims are not valid (sub, scope, exp, iss, jti)"
                    }
                    _ => "the token is malformed",
                };
                Error::Unauthorized(why.to_string())
            })
    }
}

/// Reads `Authorization: Bearer <token>` and checks the scope: 401 without a valid token, 403
/// when the token's scope does not allow `needed`.
pub fn authorize(header: Option<&str>, keys: &TokenKeys, needed: Scope) -> Result<Claims> {
    let header = header.ok_or_else(|| Error::Unauthorized("missing Authorization: Bearer <token>".into()))?;
    // The scheme name is case-insensitive (RFC 7235).
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => return Err(Error::Unauthorized("Authorization must be Bearer <token>".into())),
    };
    let claims = keys.verify(token.trim())?;
    if !claims.scope.allows(needed) {
        return Err(Error::Forbidden(format!(
            "a {} token cannot do this; it needs scope {}",
            claims.scope.as_str(),
            needed.as_str()
        )));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(&[7u8; 32]).unwrap()
    }

    fn mint(k: &TokenKeys, sub: &str, scope: Scope, ttl: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        k.mint("id-1", sub, scope, now, now + ttl).unwrap()
    }

    #[test]
    fn a_minted_token_verifies_and_carries_its_scope() {
        let k = keys();
        let t = mint(&k, "alice", Scope::Platform, 60);
        let c = authorize(Some(&format!("Bearer {t}")), &k, Scope::Platform).unwrap();
        assert_eq!((c.sub.as_str(), c.jti.as_str()), ("alice", "id-1"));
        assert!(matches!(
            authorize(Some(&format!("Bearer {t}")), &k, Scope::Admin),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn expired_malformed_and_foreign_tokens_are_401() {
        let k = keys();
        let expired = mint(&k, "a", Scope::Admin, -10);
        let other = mint(&TokenKeys::from_secret(&[8u8; 32]).unwrap(), "a", Scope::Admin, 60);
        for (header, why) in [
            (format!("Bearer {expired}"), "expired"),
            (format!("Bearer {other}"), "signature"),
            ("Bearer x.y.z".to_string(), "malformed"),
            ("Basic abc".to_string(), "Bearer"),
        ] {
            match authorize(Some(&header), &k, Scope::Platform) {
                Err(Error::Unauthorized(m)) => assert!(m.contains(why), "{m}"),
                other => panic!("{header}: {other:?}"),
            }
        }
        assert!(matches!(
            authorize(None, &k, Scope::Platform),
            Err(Error::Unauthorized(_))
        ));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKeys::from_secret(b"short").is_err());
    }
}
