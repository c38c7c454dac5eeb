//! Registered third-party providers (partners and federated brokers).

use diesel::prelude::*;

/// A registered third-party provider: a partner (`kind = "partner"`, spec = its manifest) or a
/// federated OSB broker (`kind = "osb"`, spec = its URL and credentials). The spec holds
/// secrets and is sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::db::schema::marketplace_providers)]
#[diesel(treat_none_as_null = true)]
pub struct MarketProvider {
    /// The provider's slug.
    pub id: String,
    /// `partner` or `osb`.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// `pending`, `approved` or `disabled`.
    pub state: String,
    /// Sealed JSON of the manifest or upstream settings.
    pub spec: Vec<u8>,
    /// Federation: the upstream catalog as last fetched (JSON text).
    pub catalog: Option<String>,
    /// Who registered it.
    pub registered_by: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}
