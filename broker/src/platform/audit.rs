//! The audit log as the admin API shows it.

use serde_json::Value;

use super::domain::Platform;
use super::views::AuditView;
use crate::db::models::AuditEntry;
use crate::error::Result;

/// How many entries one read of the audit log returns at most.
const AUDIT_LIMIT: i64 = 10_000;

impl Platform {
    /// The latest 10,000 audit entries, all or about one target (`app/<id>`, `instance/<id>` …).
    pub async fn audit_entries(&self, target: Option<String>) -> Result<Vec<AuditView>> {
        let rows = self
            .db
            .run(move |c| AuditEntry::latest(c, target.as_deref(), AUDIT_LIMIT))
            .await?;
        Ok(rows
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                at: chrono::DateTime::from_timestamp_millis(e.at)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .unwrap_or_default(),
                request_id: e.request_id,
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: serde_json::from_str(&e.detail).unwrap_or(Value::Null),
            })
            .collect())
    }
}
