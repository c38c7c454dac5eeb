//! The platform domain's handle ([`Platform`]) and its caller ([`Actor`]); the resource files
//! each add their own `impl Platform` block.

use std::time::Duration;

use crate::auth::{Claims, Scope};
use crate::crypto::Sealer;
use crate::db::Db;
use crate::error::Error;
use crate::provisioning::{Provisioning, RequestMeta};

/// Who is calling, from a verified token.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Token subject.
    pub sub: String,
    /// Token scope.
    pub scope: Scope,
    /// Request id, for the audit log.
    pub request_id: String,
}

impl Actor {
    /// The caller of a request with these claims.
    pub fn new(claims: Claims, request_id: String) -> Actor {
        Actor {
            sub: claims.sub,
            scope: claims.scope,
            request_id,
        }
    }

    pub(crate) fn meta(&self) -> RequestMeta {
        RequestMeta {
            request_id: Some(self.request_id.clone()),
            actor: Some(self.sub.clone()),
        }
    }
}

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

/// True when a write failed on a unique index (a name that is taken).
pub(super) fn unique_violation(e: &Error) -> bool {
    matches!(
        e,
        Error::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}
