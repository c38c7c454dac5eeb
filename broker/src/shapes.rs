//! Shapes every API's views share: timestamps and references to other resources.

use serde::Serialize;
use utoipa::ToSchema;

/// ISO 8601 UTC (`2026-11-26T07:00:00Z`).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A reference to a named resource.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NameRef {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A slug reference.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdRef {
    /// UUID.
    pub id: String,
}
