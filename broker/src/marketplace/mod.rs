//! Third-party providers: registration and governance (pending → approved ⇄ disabled →
//! removed), the catalog they contribute, the callbacks partners make (config, async provision
//! and deprovision done), single sign-on, and the operator's views of instances and operations.
//!
//! Partners and federated brokers are rows of `marketplace_providers`; their secrets (the
//! manifest's password and SSO salt, an upstream broker's password) are sealed at rest. The
//! catalog is rebuilt from the rows after every change and, for brokers sharing the store,
//! whenever the rows' fingerprint moves.

//!
//! - `registry`: registration, approval, removal, and the catalog rebuilt from the rows;
//! - `federation`: reading an OSB broker's registration;
//! - `callbacks`: partners' authenticated callbacks (config, provision and deprovision done);
//! - `sso`: single sign-on into a partner's dashboard;
//! - `admin`: the operator's views of instances and operations, and forced deprovision.

mod admin;
mod callbacks;
mod federation;
mod registry;
mod sso;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use providers::osb_upstream::UpstreamConfig;
use providers::partner::{Manifest, PartnerSettings};
use providers::Provider;

pub use self::admin::{AdminFilter, AdminInstanceView, AdminOperationView};
pub use self::registry::ProviderView;
pub use self::sso::{sso_token, SsoView};
use crate::catalog::{clip, CatalogHandle};
use crate::config::MarketplaceSettings;
use crate::crypto::Sealer;
use crate::db::models::MarketProvider;
pub use crate::db::models::ProviderState;
use crate::db::{Db, DbConnection};
use crate::error::{Error, Result};
use crate::platform::Platform;

/// What a partner's callback asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackAction {
    /// `PATCH /provider/addons/{uuid}/config`.
    Config,
    /// `POST /provider/addons/{uuid}/actions/provision`.
    Provisioned,
    /// `POST /provider/addons/{uuid}/actions/deprovision`.
    Deprovisioned,
}

/// Provider states, by their stored names.
pub mod provider_state {
    use super::ProviderState;

    /// Registered, not yet reviewed: its services are not offered.
    pub const PENDING: ProviderState = ProviderState::Pending;
    /// Offered in both catalogs.
    pub const APPROVED: ProviderState = ProviderState::Approved;
    /// No longer offered; existing add-ons keep working and can be removed.
    pub const DISABLED: ProviderState = ProviderState::Disabled;
}

/// The marketplace domain.
#[derive(Clone)]
pub struct Marketplace {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    sealer: Sealer,
    catalog: CatalogHandle,
    builtins: Vec<Arc<dyn Provider>>,
    client: reqwest::Client,
    settings: MarketplaceSettings,
    public_url: String,
    platform: Platform,
    fingerprint: Mutex<String>,
    /// Serializes rebuilds: each reads the rows and installs its catalog under it, so a slow
    /// rebuild that read the rows earlier can never install over a newer one.
    rebuilding: tokio::sync::Mutex<()>,
    skipped: Mutex<BTreeMap<String, Vec<String>>>,
}

/// The adapters of one provider row, and the upstream services it had to leave out.
type Adapters = (Vec<Arc<dyn Provider>>, Vec<String>);

/// A provider row opened: its spec decrypted.
enum Spec {
    Partner(Manifest),
    Osb(UpstreamConfig),
}

/// The sealing context of a provider's spec.
fn spec_context(id: &str) -> String {
    format!("provider/{id}")
}

/// A provider row; 404 when there is none.
fn find_provider(c: &mut DbConnection, id: &str) -> Result<MarketProvider> {
    MarketProvider::find(c, id)?.ok_or_else(|| Error::NotFound(format!("provider {} does not exist", clip(id))))
}

impl Marketplace {
    /// The marketplace over the store; call [`Marketplace::rebuild`] before serving.
    pub fn new(
        db: Db,
        sealer: Sealer,
        catalog: CatalogHandle,
        builtins: Vec<Arc<dyn Provider>>,
        settings: MarketplaceSettings,
        public_url: String,
        platform: Platform,
    ) -> Result<Marketplace> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(32)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::internal("HTTP client", e))?;
        Ok(Marketplace {
            inner: Arc::new(Inner {
                db,
                sealer,
                catalog,
                builtins,
                client,
                settings,
                public_url,
                platform,
                fingerprint: Mutex::new(String::new()),
                rebuilding: tokio::sync::Mutex::new(()),
                skipped: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    fn open_spec(&self, row: &MarketProvider) -> Result<Spec> {
        let plain = self.inner.sealer.open(&row.spec, &spec_context(&row.id))?;
        match row.kind.as_str() {
            "partner" => serde_json::from_slice(&plain)
                .map(Spec::Partner)
                .map_err(|e| Error::internal("stored manifest", e)),
            "osb" => serde_json::from_slice(&plain)
                .map(Spec::Osb)
                .map_err(|e| Error::internal("stored upstream", e)),
            other => Err(Error::Internal(format!("provider kind {other} is unknown"))),
        }
    }

    fn partner_settings(&self) -> PartnerSettings {
        let s = &self.inner.settings;
        PartnerSettings {
            public_url: self.inner.public_url.clone(),
            region: s.region.clone(),
            request_timeout: Duration::from_millis(s.request_timeout_ms.max(1)),
            callback_deadline: Duration::from_millis(s.callback_deadline_ms.max(1)),
        }
    }

    /// Timeout of one call to a provider.
    fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.settings.request_timeout_ms.max(1))
    }
}

/// Every error named, each clipped (they quote the input) and at most 50 of them.
fn list_errors(errors: &[String]) -> String {
    let mut shown: Vec<String> = errors.iter().take(50).map(|e| clip(e)).collect();
    if errors.len() > 50 {
        shown.push(format!("and {} more", errors.len() - 50));
    }
    shown.join("; ")
}
