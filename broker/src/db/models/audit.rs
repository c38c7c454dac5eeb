//! The audit log.

use diesel::prelude::*;

use crate::db::schema::audit_log;
use crate::db::DbConnection;
use crate::error::Result;

/// One audit log entry.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    /// Entry id.
    pub id: String,
    /// When (ms).
    pub at: i64,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// Who: the platform's originating identity, or the token subject.
    pub actor: Option<String>,
    /// What (`osb.provision` …).
    pub action: String,
    /// On what (`instance/<id>` …).
    pub target: String,
    /// Details as JSON text (never secrets).
    pub detail: String,
}

impl AuditEntry {
    /// Appends the entry.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(audit_log::table).values(self).execute(conn)?;
        Ok(())
    }

    /// Entries about a target, oldest first.
    pub fn for_target(conn: &mut DbConnection, target: &str) -> Result<Vec<AuditEntry>> {
        Ok(audit_log::table
            .filter(audit_log::target.eq(target))
            .order(audit_log::at.asc())
            .select(AuditEntry::as_select())
            .load(conn)?)
    }

    /// The latest `limit` entries, newest first, all or about one target.
    pub fn latest(conn: &mut DbConnection, target: Option<&str>, limit: i64) -> Result<Vec<AuditEntry>> {
        let mut q = audit_log::table.into_boxed();
        if let Some(t) = target {
            q = q.filter(audit_log::target.eq(t));
        }
        Ok(q.order(audit_log::at.desc())
            .limit(limit)
            .select(AuditEntry::as_select())
            .load(conn)?)
    }
}
