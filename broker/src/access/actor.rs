//! The caller of a request, from a verified and recorded token.

use crate::auth::{Claims, Scope};
use crate::provisioning::RequestMeta;

/// Who is calling, from a verified token.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Token subject: the person.
    pub sub: String,
    /// Token scope.
    pub scope: Scope,
    /// The token's id (its `jti`), to tell the caller which of their tokens this is.
    pub token_id: String,
    /// Request id, for the audit log.
    pub request_id: String,
}

impl Actor {
    /// The caller of a request with these claims.
    pub fn new(claims: Claims, request_id: String) -> Actor {
        Actor {
            sub: claims.sub,
            scope: claims.scope,
            token_id: claims.jti,
            request_id,
        }
    }

    /// The broker acting on its own (the reconciler, a partner callback): no token behind it.
    pub fn internal(sub: impl Into<String>, scope: Scope, request_id: String) -> Actor {
        Actor {
            sub: sub.into(),
            scope,
            token_id: String::new(),
            request_id,
        }
    }

    /// Whether the caller holds an `admin` token (sees and does everything).
    pub fn is_admin(&self) -> bool {
        self.scope == Scope::Admin
    }

    /// The request's identity for the audit log.
    pub fn meta(&self) -> RequestMeta {
        RequestMeta {
            request_id: Some(self.request_id.clone()),
            actor: Some(self.sub.clone()),
        }
    }
}
