//! Registration and governance of providers (pending → approved ⇄ disabled → removed), and the
//! catalog rebuilt from their rows: after every change here, and whenever another broker
//! sharing the store moved the rows' fingerprint.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use providers::osb_upstream::Upstream;
use providers::partner::{Manifest, PartnerProvider};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{find_provider, list_errors, spec_context, Adapters, Marketplace, Spec};
use crate::catalog::{clip, Catalog, Entry};
use crate::db::models::{Instance, MarketProvider, ProviderState};
use crate::db::now_ms;
use crate::error::{Error, FilterOutage, Result};
use crate::platform::{iso, Actor};
use crate::provisioning::{audit, RequestMeta};

/// What an operator sees of a provider (no secrets).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderView {
    /// The provider's slug.
    pub id: String,
    /// `partner` or `osb`.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// `pending`, `approved` or `disabled`.
    pub state: String,
    /// The catalog services it contributes (offered only when approved).
    pub services: Vec<String>,
    /// Partners: the manifest with its password and salt redacted; federation: the upstream URL
    /// and prefix.
    #[schema(value_type = Object)]
    pub spec: Value,
    /// Live instances of its services.
    pub instances: i64,
    /// Who registered it.
    pub registered_by: Option<String>,
    /// Federation: upstream services left out, and why.
    pub skipped: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// What a registration stores: the provider's id and name, its spec (sealed before it is
/// stored) and, for a federated broker, the upstream catalog as fetched.
pub(super) struct Registration {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) spec: Vec<u8>,
    pub(super) catalog: Option<String>,
}

impl Marketplace {
    /// The adapters of one provider row, with the upstream services it had to leave out.
    fn adapters(&self, row: &MarketProvider) -> Result<Adapters> {
        match self.open_spec(row)? {
            Spec::Partner(m) => Ok((
                vec![Arc::new(PartnerProvider::new(
                    m,
                    self.inner.client.clone(),
                    self.partner_settings(),
                ))],
                Vec::new(),
            )),
            Spec::Osb(cfg) => {
                let catalog: Value = row
                    .catalog
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok())
                    .unwrap_or(json!({}));
                let upstream = Arc::new(Upstream::new(
                    &row.id,
                    cfg,
                    self.inner.client.clone(),
                    self.request_timeout(),
                ));
                Ok(upstream.services(&catalog))
            }
        }
    }

    /// The catalog of the built-ins and these rows, and what each row had to leave out.
    fn catalog_of(&self, rows: &[MarketProvider]) -> Result<(Catalog, BTreeMap<String, Vec<String>>)> {
        let mut entries: Vec<Entry> = self
            .inner
            .builtins
            .iter()
            .map(|p| Entry {
                owner: p.service().name.clone(),
                provider: p.clone(),
                offered: true,
            })
            .collect();
        let mut skipped = BTreeMap::new();
        for row in rows {
            // One bad row (unreadable, or clashing with an earlier one after a race between
            // brokers) is left out alone; the rest of the catalog stays served.
            let (adapters, left_out) = match self.adapters(row) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(provider = %row.id, error = %e.chain(), "a provider could not be loaded; left out");
                    skipped.insert(row.id.clone(), vec![format!("not loaded: {}", e.public_message())]);
                    continue;
                }
            };
            let mut candidate = entries.clone();
            candidate.extend(adapters.into_iter().map(|provider| Entry {
                provider,
                owner: row.id.clone(),
                offered: row.state == ProviderState::Approved,
            }));
            match Catalog::from_entries(candidate.clone()) {
                Ok(_) => {
                    entries = candidate;
                    skipped.insert(row.id.clone(), left_out);
                }
                Err(e) => {
                    tracing::warn!(provider = %row.id, error = %e.chain(), "a provider clashes with the catalog; left out");
                    skipped.insert(row.id.clone(), vec![format!("not loaded: {}", e.public_message())]);
                }
            }
        }
        Ok((Catalog::from_entries(entries)?, skipped))
    }

    /// Every provider row, oldest first.
    async fn rows(&self) -> Result<Vec<MarketProvider>> {
        self.inner.db.run(MarketProvider::all).await
    }

    /// Rebuilds the catalog from the provider rows.
    pub async fn rebuild(&self) -> Result<()> {
        let _one_at_a_time = self.inner.rebuilding.lock().await;
        let rows = self.rows().await?;
        let fingerprint = fingerprint(&rows);
        let (catalog, skipped) = self.catalog_of(&rows)?;
        self.inner.catalog.replace(catalog);
        if let Ok(mut f) = self.inner.fingerprint.lock() {
            *f = fingerprint;
        }
        if let Ok(mut s) = self.inner.skipped.lock() {
            *s = skipped;
        }
        Ok(())
    }

    /// Rebuilds the catalog when another broker sharing the store changed the providers.
    pub async fn refresh_if_changed(&self) -> Result<()> {
        let rows = self.rows().await?;
        let now = fingerprint(&rows);
        let same = self.inner.fingerprint.lock().map(|f| *f == now).unwrap_or(false);
        if !same {
            self.rebuild().await?;
        }
        Ok(())
    }

    /// Runs [`Marketplace::refresh_if_changed`] every `marketplace.refresh_ms` until `shutdown`.
    pub async fn run_refresher(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let every = Duration::from_millis(self.inner.settings.refresh_ms.max(100));
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.refresh_if_changed().await.filter_outage() {
                tracing::warn!(error = %e.chain(), "refreshing the provider catalog failed");
            }
        }
    }

    /// Registers a provider (`pending`): a partner manifest, or with `"kind": "osb"` an
    /// upstream broker (`id`, `name`, `url`, `username`, `password`, `service_prefix`).
    /// `partners_only` is set for provider-registration tokens: federating a broker is for
    /// admins.
    pub async fn register(&self, body: Value, partners_only: bool, meta: RequestMeta) -> Result<ProviderView> {
        let kind = match body.get("kind") {
            None => "partner",
            Some(Value::String(k)) if k == "partner" || k == "osb" => k.as_str(),
            Some(_) => return Err(Error::Unprocessable("kind: must be \"partner\" or \"osb\"".into())),
        };
        if partners_only && kind == "osb" {
            return Err(Error::Forbidden(
                "federating an OSB broker is for admins (POST /admin/providers)".into(),
            ));
        }
        let reg = if kind == "partner" {
            self.partner_registration(&body)?
        } else {
            self.upstream_registration(&body).await?
        };
        let id = reg.id.clone();
        if self.inner.builtins.iter().any(|p| p.service().name == id) {
            return Err(Error::Conflict(format!("id {id} is a built-in service")));
        }
        let now = now_ms();
        let row = MarketProvider {
            id: id.clone(),
            kind: kind.to_string(),
            name: reg.name,
            state: ProviderState::Pending,
            spec: self.inner.sealer.seal(&reg.spec, &spec_context(&id))?,
            catalog: reg.catalog,
            registered_by: meta.actor.clone(),
            created_at: now,
            updated_at: now,
        };
        self.check_fits(&row).await?;
        let detail = json!({ "kind": kind });
        self.inner
            .db
            .write(move |c| {
                row.insert(c)?;
                audit(
                    c,
                    &meta,
                    "admin.provider.register",
                    format!("provider/{}", row.id),
                    detail.clone(),
                )
            })
            .await
            .map_err(|e| match e {
                Error::Db(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Error::Conflict(format!("provider {id} is already registered")),
                other => other,
            })?;
        self.rebuild().await?;
        self.provider(id).await
    }

    /// A partner's registration: its manifest, validated.
    fn partner_registration(&self, body: &Value) -> Result<Registration> {
        let manifest = Manifest::parse(body)
            .map_err(|errors| Error::Unprocessable(format!("the manifest is invalid: {}", list_errors(&errors))))?;
        let urls = [
            ("api.production.base_url", &manifest.api.production.base_url),
            ("api.production.sso_url", &manifest.api.production.sso_url),
        ];
        self.check_loopback(&urls)?;
        let spec = serde_json::to_vec(&manifest).map_err(|e| Error::internal("serializing the manifest", e))?;
        Ok(Registration {
            id: manifest.id.clone(),
            name: manifest.name.clone(),
            spec,
            catalog: None,
        })
    }

    /// The new provider must fit the catalog (names free, schemas valid) before it is stored.
    async fn check_fits(&self, row: &MarketProvider) -> Result<()> {
        let (adapters, _) = self.adapters(row)?;
        if adapters.is_empty() {
            return Err(Error::Unprocessable(
                "url: the upstream catalog has no services this broker can offer".into(),
            ));
        }
        let rows = self.rows().await?;
        if rows.iter().any(|r| r.id == row.id) {
            return Err(Error::Conflict(format!("provider {} is already registered", row.id)));
        }
        let mut entries = self.inner.catalog.current().entries().to_vec();
        entries.extend(adapters.into_iter().map(|provider| Entry {
            provider,
            owner: row.id.clone(),
            offered: false,
        }));
        Catalog::from_entries(entries).map_err(|e| match e {
            Error::Conflict(m) | Error::Unprocessable(m) => Error::Unprocessable(m),
            other => other,
        })?;
        Ok(())
    }

    /// Loopback URLs reach the broker's own host (its API, sidecars): refused unless
    /// `marketplace.allow_loopback` says this is a development or test setup.
    pub(super) fn check_loopback(&self, urls: &[(&str, &String)]) -> Result<()> {
        if self.inner.settings.allow_loopback {
            return Ok(());
        }
        for (field, url) in urls {
            if providers::partner::is_loopback(url) {
                return Err(Error::Unprocessable(format!(
                    "{field}: loopback hosts are allowed only with marketplace.allow_loopback = true"
                )));
            }
        }
        Ok(())
    }

    /// One provider.
    pub async fn provider(&self, id: String) -> Result<ProviderView> {
        let row = self.inner.db.run(move |c| find_provider(c, &id)).await?;
        self.view(row).await
    }

    /// All providers.
    pub async fn providers(&self) -> Result<Vec<ProviderView>> {
        let mut out = Vec::new();
        for row in self.rows().await? {
            out.push(self.view(row).await?);
        }
        Ok(out)
    }

    /// What an operator sees of a row.
    async fn view(&self, row: MarketProvider) -> Result<ProviderView> {
        let catalog = self.inner.catalog.current();
        let service_ids = catalog.services_of(&row.id);
        let services = service_ids
            .iter()
            .filter_map(|id| catalog.provider(id).map(|p| p.service().name.clone()))
            .collect();
        let ids = service_ids.clone();
        let live = self
            .inner
            .db
            .run(move |c| Instance::count_live_of_services(c, &ids))
            .await?;
        let spec = match self.open_spec(&row)? {
            Spec::Partner(m) => m.public_view(),
            Spec::Osb(cfg) => json!({ "url": cfg.url, "username": cfg.username, "service_prefix": cfg.service_prefix }),
        };
        let skipped = self
            .inner
            .skipped
            .lock()
            .ok()
            .and_then(|s| s.get(&row.id).cloned())
            .unwrap_or_default();
        Ok(ProviderView {
            id: row.id,
            kind: row.kind,
            name: row.name,
            state: row.state.into(),
            services,
            spec,
            instances: live,
            registered_by: row.registered_by,
            skipped,
            created_at: iso(row.created_at),
            updated_at: iso(row.updated_at),
        })
    }

    /// Moves a provider to `approved` or `disabled`.
    pub async fn set_state(&self, id: String, state: ProviderState, meta: RequestMeta) -> Result<ProviderView> {
        let action = format!(
            "admin.provider.{}",
            if state == ProviderState::Approved {
                "approve"
            } else {
                "disable"
            }
        );
        let pid = id.clone();
        self.inner
            .db
            .write(move |c| {
                let mut row = find_provider(c, &pid)?;
                if row.state != state {
                    row.state = state;
                    row.updated_at = now_ms();
                    row.save(c)?;
                    audit(
                        c,
                        &meta,
                        &action,
                        format!("provider/{pid}"),
                        json!({ "state": state.as_str() }),
                    )?;
                }
                Ok(())
            })
            .await?;
        self.rebuild().await?;
        self.provider(id).await
    }

    /// Live instances of a provider's services.
    async fn live_instances(&self, provider: &str) -> Result<Vec<Instance>> {
        let ids = self.inner.catalog.current().services_of(provider);
        self.inner.db.run(move |c| Instance::live_of_services(c, &ids)).await
    }

    /// Removes a provider. With live instances it is refused (409) unless `force`, which first
    /// disables the provider and deprovisions every instance; it is removed once none is left.
    pub async fn remove(&self, id: String, force: bool, actor: &Actor) -> Result<()> {
        let pid = id.clone();
        let row = self.inner.db.run(move |c| find_provider(c, &pid)).await?;
        let live = self.live_instances(&row.id).await?;
        if !live.is_empty() && !force {
            return Err(Error::Conflict(format!(
                "provider {id} has {} live instance(s); deprovision them first or remove with ?force=true",
                live.len()
            )));
        }
        if !live.is_empty() {
            if row.state != ProviderState::Disabled {
                self.set_state(id.clone(), ProviderState::Disabled, actor.meta())
                    .await?;
            }
            let mut failures = Vec::new();
            for inst in live {
                if let Err(e) = self.force_deprovision(inst.id.clone(), actor).await {
                    failures.push(format!("{}: {}", inst.id, e.public_message()));
                }
            }
            if !failures.is_empty() {
                return Err(Error::Backend(clip(&format!(
                    "provider {id} stays (disabled): deprovisioning failed for {}",
                    failures.join("; ")
                ))));
            }
        }
        let meta = actor.meta();
        self.inner
            .db
            .write(move |c| {
                MarketProvider::delete(c, &id)?;
                audit(
                    c,
                    &meta,
                    "admin.provider.remove",
                    format!("provider/{id}"),
                    json!({ "force": force }),
                )
            })
            .await?;
        self.rebuild().await
    }
}

/// What changes whenever a provider row does.
fn fingerprint(rows: &[MarketProvider]) -> String {
    let mut parts: BTreeSet<String> = BTreeSet::new();
    for r in rows {
        parts.insert(format!("{}/{}/{}", r.id, r.state.as_str(), r.updated_at));
    }
    parts.into_iter().collect::<Vec<_>>().join(",")
}
