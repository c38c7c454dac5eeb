//! The [`Access`] handle: the state store and the token keys. Its methods live with their
//! resource (`tokens.rs`, `teams.rs`, `collaborators.rs`).

use crate::auth::TokenKeys;
use crate::db::Db;

/// The access domain (cheap to clone).
#[derive(Clone)]
pub struct Access {
    pub(super) db: Db,
    pub(super) keys: TokenKeys,
}

impl Access {
    /// The access domain over the state store, signing tokens with `keys`.
    pub fn new(db: Db, keys: TokenKeys) -> Access {
        Access { db, keys }
    }

    /// The token keys.
    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }
}
