//! Registered third-party providers (partners and federated brokers), their states, and the
//! filter of the operator's lists over the marketplace.

use diesel::prelude::*;

use crate::db::schema::marketplace_providers;
use crate::db::DbConnection;
use crate::error::Result;

/// Where a provider stands; stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderState {
    /// Registered, not yet reviewed: its services are not offered.
    Pending,
    /// Offered in both catalogs.
    Approved,
    /// No longer offered; existing add-ons keep working and can be removed.
    Disabled,
}

impl ProviderState {
    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderState::Pending => "pending",
            ProviderState::Approved => "approved",
            ProviderState::Disabled => "disabled",
        }
    }
}

impl From<ProviderState> for String {
    fn from(state: ProviderState) -> String {
        state.as_str().to_string()
    }
}

impl TryFrom<String> for ProviderState {
    type Error = String;

    fn try_from(stored: String) -> std::result::Result<ProviderState, String> {
        match stored.as_str() {
            "pending" => Ok(ProviderState::Pending),
            "approved" => Ok(ProviderState::Approved),
            "disabled" => Ok(ProviderState::Disabled),
            other => Err(format!("provider state {other:?} is unknown")),
        }
    }
}

/// A registered third-party provider: a partner (`kind = "partner"`, spec = its manifest) or a
/// federated OSB broker (`kind = "osb"`, spec = its URL and credentials). The spec holds
/// secrets and is sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = marketplace_providers)]
#[diesel(treat_none_as_null = true)]
pub struct MarketProvider {
    /// The provider's slug.
    pub id: String,
    /// `partner` or `osb`.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Where it stands.
    #[diesel(serialize_as = String, deserialize_as = String)]
    pub state: ProviderState,
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

impl MarketProvider {
    /// Finds a provider.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<MarketProvider>> {
        Ok(marketplace_providers::table
            .find(id)
            .select(MarketProvider::as_select())
            .first(conn)
            .optional()?)
    }

    /// Every provider, oldest first (the order the catalog is built in).
    pub fn all(conn: &mut DbConnection) -> Result<Vec<MarketProvider>> {
        Ok(marketplace_providers::table
            .order(marketplace_providers::created_at.asc())
            .select(MarketProvider::as_select())
            .load(conn)?)
    }

    /// Inserts a new provider row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(marketplace_providers::table)
            .values(self.clone())
            .execute(conn)?;
        Ok(())
    }

    /// Writes every column of this row.
    pub fn save(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::update(marketplace_providers::table.find(&self.id))
            .set(self.clone())
            .execute(conn)?;
        Ok(())
    }

    /// Deletes a provider row.
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<()> {
        diesel::delete(marketplace_providers::table.find(id)).execute(conn)?;
        Ok(())
    }
}

/// What the operator's lists of instances and operations filter on, resolved to stored ids;
/// `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AdminScope {
    /// Only this state.
    pub state: Option<String>,
    /// Operations only: this kind.
    pub kind: Option<String>,
    /// Operations only: this instance.
    pub instance: Option<String>,
    /// Only instances of these catalog services.
    pub services: Option<Vec<String>>,
    /// Only add-ons of this app id.
    pub app_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_stored_as_their_names() {
        for state in [ProviderState::Pending, ProviderState::Approved, ProviderState::Disabled] {
            let stored: String = state.into();
            assert_eq!(ProviderState::try_from(stored.clone()), Ok(state));
            assert_eq!(stored, state.as_str());
        }
        assert_eq!(ProviderState::Approved.as_str(), "approved");
        assert!(ProviderState::try_from("Approved".to_string()).is_err());
    }
}
