//! Recorded bearer tokens: every token the broker accepts has a row here, so that it can be
//! listed and revoked.

use diesel::prelude::*;

use crate::db::schema::tokens;
use crate::db::DbConnection;
use crate::error::Result;

/// A token's record (never the token itself: the JWT is shown once, when it is made).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::tokens)]
pub struct TokenRecord {
    /// UUID, the JWT's `jti`.
    pub id: String,
    /// Who it speaks for (the JWT's `sub`).
    pub person: String,
    /// `platform`, `admin` or `provider`.
    pub scope: String,
    /// What it is for, as its maker said.
    pub description: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Expiry (ms).
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

impl TokenRecord {
    /// A token's record, if it exists.
    pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<TokenRecord>> {
        Ok(tokens::table
            .find(id)
            .select(TokenRecord::as_select())
            .first(conn)
            .optional()?)
    }

    /// A person's tokens, newest first; or everyone's.
    pub fn list(conn: &mut DbConnection, person: Option<&str>) -> Result<Vec<TokenRecord>> {
        let mut query = tokens::table.select(TokenRecord::as_select()).into_boxed();
        if let Some(p) = person {
            query = query.filter(tokens::person.eq(p.to_string()));
        }
        Ok(query.order((tokens::created_at.desc(), tokens::id.asc())).load(conn)?)
    }

    /// Inserts a new token record.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(tokens::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Marks a token revoked (once: a second revocation keeps the first's time and author).
    pub fn revoke(conn: &mut DbConnection, id: &str, by: &str, now: i64) -> Result<()> {
        diesel::update(tokens::table.find(id).filter(tokens::revoked_at.is_null()))
            .set((tokens::revoked_at.eq(now), tokens::revoked_by.eq(by)))
            .execute(conn)?;
        Ok(())
    }
}
