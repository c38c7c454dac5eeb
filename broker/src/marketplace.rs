//! Third-party providers: registration and governance (pending → approved ⇄ disabled →
//! removed), the catalog they contribute, the callbacks partners make (config, async provision
//! and deprovision done), single sign-on, and the operator's views of instances and operations.
//!
//! Partners and federated brokers are rows of `marketplace_providers`; their secrets (the
//! manifest's password and SSO salt, an upstream broker's password) are sealed at rest. The
//! catalog is rebuilt from the rows after every change and, for brokers sharing the store,
//! whenever the rows' fingerprint moves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use providers::osb_upstream::{Upstream, UpstreamConfig};
use providers::partner::{check_url, config_to_credentials, Manifest, PartnerProvider, PartnerSettings};
use providers::signing::{unix_now, verify};
use providers::Provider;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::catalog::{clip, Catalog, CatalogHandle, Entry};
use crate::config::MarketplaceSettings;
use crate::crypto::Sealer;
use crate::db::models::{
    binding_state, instance_state, op_state, remember_signature, Addon, Binding, Instance, InstanceConfig,
    MarketProvider, Operation,
};
use crate::db::schema::{addons, apps, bindings, instances, marketplace_providers, operations};
use crate::db::{now_ms, Db, DbConnection};
use crate::error::{Error, Result};
use crate::platform::{iso, Actor, Platform};
use crate::provisioning::{audit, RequestMeta};

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

/// Provider states.
pub mod provider_state {
    /// Registered, not yet reviewed: its services are not offered.
    pub const PENDING: &str = "pending";
    /// Offered in both catalogs.
    pub const APPROVED: &str = "approved";
    /// No longer offered; existing add-ons keep working and can be removed.
    pub const DISABLED: &str = "disabled";
}

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

/// What an operator sees of an instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminInstanceView {
    /// Instance id (the add-on id for platform add-ons).
    pub id: String,
    /// Service name.
    pub service: String,
    /// Plan name.
    pub plan: String,
    /// Owning provider id (the service name for built-ins).
    pub provider: String,
    /// `provisioning`, `provisioned`, `failed`, `deprovisioned`.
    pub state: String,
    /// The platform app that owns it, when it is an add-on.
    pub app: Option<String>,
    /// The add-on name, when it is an add-on.
    pub addon: Option<String>,
    /// The operation in progress.
    pub active_operation: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// What an operator sees of an operation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminOperationView {
    /// Operation id.
    pub id: String,
    /// `provision`, `update`, `deprovision`, `bind`, `unbind`.
    pub kind: String,
    /// `in_progress`, `succeeded`, `failed`.
    pub state: String,
    /// The instance.
    pub instance_id: String,
    /// The binding, for bind and unbind.
    pub binding_id: Option<String>,
    /// Owning provider id.
    pub provider: Option<String>,
    /// The app, when the instance is an add-on.
    pub app: Option<String>,
    /// What happened.
    pub description: Option<String>,
    /// Attempts so far.
    pub attempts: i32,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// End time.
    pub finished_at: Option<String>,
}

/// Filters of the admin lists.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this provider's services.
    pub provider: Option<String>,
    /// Only add-ons of this app (id or name).
    pub app: Option<String>,
    /// Operations only: this kind.
    pub kind: Option<String>,
    /// Operations only: this instance.
    pub instance: Option<String>,
}

/// A single sign-on into a partner's dashboard (Heroku's form: POST `params` to `action`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SsoView {
    /// Always `POST`; [`SsoView::url`] is the same login as a GET.
    pub method: String,
    /// The partner's `sso_url`.
    pub action: String,
    /// `id`, `token` (`sha1(id:salt:timestamp)`), `timestamp`, `nav-data`, `email`, `app`,
    /// `context_app`.
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, String>,
    /// `action` with `params` as its query string.
    pub url: String,
    /// When the provider stops accepting it (5 minutes).
    pub expires_at: String,
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
    skipped: Mutex<BTreeMap<String, Vec<String>>>,
}

/// The adapters of one provider row, and the upstream services it had to leave out.
type Adapters = (Vec<Arc<dyn Provider>>, Vec<String>);

/// A provider row opened: its spec decrypted.
enum Spec {
    Partner(Manifest),
    Osb(UpstreamConfig),
}

fn spec_context(id: &str) -> String {
    format!("provider/{id}")
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 30
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.ends_with('-')
}

fn find_provider(c: &mut DbConnection, id: &str) -> Result<MarketProvider> {
    marketplace_providers::table
        .find(id)
        .select(MarketProvider::as_select())
        .first(c)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("provider {} does not exist", clip(id))))
}

/// A config update's vars: `[{"name", "value"}]` (Heroku's platform API form) or
/// `{"NAME": "value"}`; a null value removes the var.
fn config_changes(body: &Value) -> Result<Vec<(String, Option<String>)>> {
    let bad = || {
        Error::BadRequest(
            "config must be [{\"name\": ..., \"value\": ...}] or an object of strings; null removes a var".into(),
        )
    };
    let mut out = Vec::new();
    match body.get("config") {
        Some(Value::Array(items)) => {
            for item in items {
                let name = item.get("name").and_then(Value::as_str).ok_or_else(bad)?;
                let value = match item.get("value") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Null) | None => None,
                    Some(_) => return Err(bad()),
                };
                out.push((name.to_string(), value));
            }
        }
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = match value {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    _ => return Err(bad()),
                };
                out.push((name.clone(), value));
            }
        }
        _ => return Err(bad()),
    }
    Ok(out)
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
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
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
                skipped: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    fn open_spec(&self, row: &MarketProvider) -> Result<Spec> {
        let plain = self.inner.sealer.open(&row.spec, &spec_context(&row.id))?;
        match row.kind.as_str() {
            "partner" => serde_json::from_slice(&plain)
                .map(Spec::Partner)
                .map_err(|e| Error::Internal(format!("stored manifest: {e}"))),
            "osb" => serde_json::from_slice(&plain)
                .map(Spec::Osb)
                .map_err(|e| Error::Internal(format!("stored upstream: {e}"))),
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
                    Duration::from_millis(self.inner.settings.request_timeout_ms.max(1)),
                ));
                Ok(upstream.services(&catalog))
            }
        }
    }

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
                    tracing::warn!(provider = %row.id, error = %e, "a provider could not be loaded; left out");
                    skipped.insert(row.id.clone(), vec![format!("not loaded: {}", e.public_message())]);
                    continue;
                }
            };
            let mut candidate = entries.clone();
            candidate.extend(adapters.into_iter().map(|provider| Entry {
                provider,
                owner: row.id.clone(),
                offered: row.state == provider_state::APPROVED,
            }));
            match Catalog::from_entries(candidate.clone()) {
                Ok(_) => {
                    entries = candidate;
                    skipped.insert(row.id.clone(), left_out);
                }
                Err(e) => {
                    tracing::warn!(provider = %row.id, error = %e, "a provider clashes with the catalog; left out");
                    skipped.insert(row.id.clone(), vec![format!("not loaded: {}", e.public_message())]);
                }
            }
        }
        Ok((Catalog::from_entries(entries)?, skipped))
    }

    async fn rows(&self) -> Result<Vec<MarketProvider>> {
        self.inner
            .db
            .run(|c| {
                Ok(marketplace_providers::table
                    .order(marketplace_providers::created_at.asc())
                    .select(MarketProvider::as_select())
                    .load(c)?)
            })
            .await
    }

    /// Rebuilds the catalog from the provider rows.
    pub async fn rebuild(&self) -> Result<()> {
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
            if let Err(e) = self.refresh_if_changed().await {
                tracing::warn!(error = %e, "refreshing the provider catalog failed");
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
        let (id, name, spec, catalog) = if kind == "partner" {
            let manifest = Manifest::parse(&body)
                .map_err(|errors| Error::Unprocessable(format!("the manifest is invalid: {}", list_errors(&errors))))?;
            let urls = [
                ("api.production.base_url", &manifest.api.production.base_url),
                ("api.production.sso_url", &manifest.api.production.sso_url),
            ];
            self.check_loopback(&urls)?;
            let plain = serde_json::to_vec(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
            (manifest.id.clone(), manifest.name.clone(), plain, None)
        } else {
            let (cfg, id, name) = parse_upstream(&body)?;
            self.check_loopback(&[("url", &cfg.url)])?;
            let upstream = Upstream::new(
                &id,
                cfg.clone(),
                self.inner.client.clone(),
                Duration::from_millis(self.inner.settings.request_timeout_ms.max(1)),
            );
            let catalog = upstream.fetch_catalog().await.map_err(|e| {
                Error::Unprocessable(clip(&format!("url: the upstream catalog could not be read: {e}")))
            })?;
            let plain = serde_json::to_vec(&cfg).map_err(|e| Error::Internal(e.to_string()))?;
            (id, name, plain, Some(catalog.to_string()))
        };
        if self.inner.builtins.iter().any(|p| p.service().name == id) {
            return Err(Error::Conflict(format!("id {id} is a built-in service")));
        }
        let now = now_ms();
        let row = MarketProvider {
            id: id.clone(),
            kind: kind.to_string(),
            name,
            state: provider_state::PENDING.into(),
            spec: self.inner.sealer.seal(&spec, &spec_context(&id))?,
            catalog,
            registered_by: meta.actor.clone(),
            created_at: now,
            updated_at: now,
        };
        // The new provider must fit the catalog (names free, schemas valid) before it is stored.
        let (adapters, _) = self.adapters(&row)?;
        if adapters.is_empty() {
            return Err(Error::Unprocessable(
                "url: the upstream catalog has no services this broker can offer".into(),
            ));
        }
        let rows = self.rows().await?;
        if rows.iter().any(|r| r.id == id) {
            return Err(Error::Conflict(format!("provider {id} is already registered")));
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
        let detail = json!({ "kind": kind });
        self.inner
            .db
            .write(move |c| {
                diesel::insert_into(marketplace_providers::table)
                    .values(&row)
                    .execute(c)?;
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

    /// Loopback URLs reach the broker's own host (its API, sidecars): refused unless
    /// `marketplace.allow_loopback` says this is a development or test setup.
    fn check_loopback(&self, urls: &[(&str, &String)]) -> Result<()> {
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
            .run(move |c| {
                Ok(instances::table
                    .filter(instances::service_id.eq_any(&ids))
                    .filter(instances::state.ne(instance_state::DEPROVISIONED))
                    .count()
                    .get_result::<i64>(c)?)
            })
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
            state: row.state,
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
    pub async fn set_state(&self, id: String, state: &'static str, meta: RequestMeta) -> Result<ProviderView> {
        let action = format!(
            "admin.provider.{}",
            if state == provider_state::APPROVED {
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
                    row.state = state.to_string();
                    row.updated_at = now_ms();
                    diesel::update(marketplace_providers::table.find(&row.id))
                        .set(&row)
                        .execute(c)?;
                    audit(c, &meta, &action, format!("provider/{pid}"), json!({ "state": state }))?;
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
        self.inner
            .db
            .run(move |c| {
                Ok(instances::table
                    .filter(instances::service_id.eq_any(&ids))
                    .filter(instances::state.ne(instance_state::DEPROVISIONED))
                    .select(Instance::as_select())
                    .load(c)?)
            })
            .await
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
            if row.state != provider_state::DISABLED {
                self.set_state(id.clone(), provider_state::DISABLED, actor.meta())
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
                diesel::delete(marketplace_providers::table.find(&id)).execute(c)?;
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

    /// Deprovisions an instance whatever is attached to it: an add-on is detached from every
    /// app (one release each) and destroyed; a plain OSB instance has its bindings removed
    /// first. Waits for the result.
    pub async fn force_deprovision(&self, instance_id: String, actor: &Actor) -> Result<AdminInstanceView> {
        crate::provisioning::validate_id("instance_id", &instance_id)?;
        let id = instance_id.clone();
        let (inst, addon, live_bindings) = self
            .inner
            .db
            .run(move |c| {
                let inst = Instance::find(c, &id)?;
                let addon: Option<Addon> = addons::table.find(&id).select(Addon::as_select()).first(c).optional()?;
                let live: Vec<Binding> = bindings::table
                    .filter(bindings::instance_id.eq(&id))
                    .filter(bindings::state.ne(binding_state::UNBOUND))
                    .select(Binding::as_select())
                    .load(c)?;
                Ok((inst, addon, live))
            })
            .await?;
        let inst = inst
            .filter(Instance::is_live)
            .ok_or_else(|| Error::NotFound(format!("instance {instance_id} does not exist or is deprovisioned")))?;
        if inst.active_operation_id.is_some() {
            return Err(Error::ConcurrencyError(format!(
                "instance {instance_id} has an operation in progress; try again when it ends"
            )));
        }
        let meta = actor.meta();
        let target = format!("instance/{instance_id}");
        self.inner
            .db
            .write(move |c| audit(c, &meta, "admin.instance.deprovision", target.clone(), json!({})))
            .await?;
        if let Some(addon) = addon {
            self.inner.platform.force_destroy_addon(addon.id, actor).await?;
        } else {
            let provisioning = self.inner.platform.provisioning();
            for b in live_bindings {
                match provisioning
                    .unbind(
                        inst.id.clone(),
                        b.id.clone(),
                        b.service_id.clone(),
                        b.plan_id.clone(),
                        false,
                        actor.meta(),
                    )
                    .await
                {
                    Ok(_) | Err(Error::Gone(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            match provisioning
                .deprovision(
                    inst.id.clone(),
                    inst.service_id.clone(),
                    inst.plan_id.clone(),
                    false,
                    actor.meta(),
                )
                .await
            {
                Ok(_) | Err(Error::Gone(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let filter = AdminFilter::default();
        self.instances(filter)
            .await?
            .into_iter()
            .find(|v| v.id == instance_id)
            .ok_or_else(|| Error::NotFound(format!("instance {instance_id} vanished")))
    }

    fn app_filter(c: &mut DbConnection, app: &Option<String>) -> Result<Option<String>> {
        match app {
            None => Ok(None),
            Some(a) => {
                let row: Option<String> = apps::table
                    .filter(apps::id.eq(a).or(apps::name.eq(a)))
                    .select(apps::id)
                    .first(c)
                    .optional()?;
                // An unknown app matches nothing rather than everything (no app id has a space).
                Ok(Some(row.unwrap_or_else(|| "no such app".into())))
            }
        }
    }

    /// Instances, filtered by state, provider and app.
    pub async fn instances(&self, filter: AdminFilter) -> Result<Vec<AdminInstanceView>> {
        let catalog = self.inner.catalog.current();
        let services = filter.provider.as_ref().map(|p| catalog.services_of(p));
        let rows = self
            .inner
            .db
            .run(move |c| {
                let app_id = Self::app_filter(c, &filter.app)?;
                let mut q = instances::table
                    .left_join(addons::table.on(addons::id.eq(instances::id)))
                    .left_join(apps::table.on(apps::id.eq(addons::app_id)))
                    .into_boxed();
                if let Some(s) = &filter.state {
                    q = q.filter(instances::state.eq(s.clone()));
                }
                if let Some(ids) = services {
                    q = q.filter(instances::service_id.eq_any(ids));
                }
                if let Some(app) = app_id {
                    q = q.filter(addons::app_id.eq(app));
                }
                Ok(
                    q.select((Instance::as_select(), addons::name.nullable(), apps::name.nullable()))
                        .load::<(Instance, Option<String>, Option<String>)>(c)?,
                )
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(inst, addon, app)| {
                let (service, plan) = catalog
                    .resolve(&inst.service_id, &inst.plan_id)
                    .map(|(p, plan)| (p.service().name.clone(), plan.name.clone()))
                    .unwrap_or_else(|_| (inst.service_id.clone(), inst.plan_id.clone()));
                AdminInstanceView {
                    provider: catalog.owner(&inst.service_id).unwrap_or("unknown").to_string(),
                    id: inst.id,
                    service,
                    plan,
                    state: inst.state,
                    app,
                    addon,
                    active_operation: inst.active_operation_id,
                    created_at: iso(inst.created_at),
                    updated_at: iso(inst.updated_at),
                }
            })
            .collect())
    }

    /// Operations, filtered by state, provider, app, kind and instance.
    pub async fn operations(&self, filter: AdminFilter) -> Result<Vec<AdminOperationView>> {
        let catalog = self.inner.catalog.current();
        let services = filter.provider.as_ref().map(|p| catalog.services_of(p));
        let rows = self
            .inner
            .db
            .run(move |c| {
                let app_id = Self::app_filter(c, &filter.app)?;
                let mut q = operations::table
                    .left_join(instances::table.on(instances::id.eq(operations::instance_id)))
                    .left_join(addons::table.on(addons::id.eq(operations::instance_id)))
                    .left_join(apps::table.on(apps::id.eq(addons::app_id)))
                    .into_boxed();
                if let Some(s) = &filter.state {
                    q = q.filter(operations::state.eq(s.clone()));
                }
                if let Some(k) = &filter.kind {
                    q = q.filter(operations::kind.eq(k.clone()));
                }
                if let Some(i) = &filter.instance {
                    q = q.filter(operations::instance_id.eq(i.clone()));
                }
                if let Some(ids) = services {
                    q = q.filter(instances::service_id.eq_any(ids));
                }
                if let Some(app) = app_id {
                    q = q.filter(addons::app_id.eq(app));
                }
                Ok(q.select((
                    Operation::as_select(),
                    instances::service_id.nullable(),
                    apps::name.nullable(),
                ))
                .load::<(Operation, Option<String>, Option<String>)>(c)?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(op, service, app)| AdminOperationView {
                provider: service.and_then(|s| catalog.owner(&s).map(str::to_string)),
                id: op.id,
                kind: op.kind,
                state: op.state,
                instance_id: op.instance_id,
                binding_id: op.binding_id,
                app,
                description: op.description,
                attempts: op.attempts,
                created_at: iso(op.created_at),
                updated_at: iso(op.updated_at),
                finished_at: op.finished_at.map(iso),
            })
            .collect())
    }

    /// Authenticates a partner's callback: basic auth `id:password` names the partner, the
    /// `X-Addon-Signature` over the body must verify with its password, and a signature may be
    /// used once. Returns the partner's id and manifest.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Manifest> {
        use base64::Engine;
        let unauthorized =
            || Error::Unauthorized("callbacks need basic auth with the provider's id and password".into());
        let encoded = authorization
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, v)| v.trim())
            .ok_or_else(unauthorized)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(unauthorized)?;
        let (id, password) = decoded.split_once(':').ok_or_else(unauthorized)?;
        let pid = id.to_string();
        let row = self
            .inner
            .db
            .run(move |c| {
                Ok(marketplace_providers::table
                    .find(&pid)
                    .select(MarketProvider::as_select())
                    .first(c)
                    .optional()?)
            })
            .await?
            .ok_or_else(unauthorized)?;
        let Spec::Partner(manifest) = self.open_spec(&row)? else {
            return Err(unauthorized());
        };
        if !bool::from(manifest.api.password.as_bytes().ct_eq(password.as_bytes())) {
            return Err(unauthorized());
        }
        let verified = verify(manifest.api.password.as_bytes(), signature, body, unix_now())
            .map_err(|e| Error::Unauthorized(e.to_string()))?;
        let (pid, mac) = (row.id.clone(), verified.mac.clone());
        let fresh = self
            .inner
            .db
            .write(move |c| remember_signature(c, &pid, &mac, now_ms()))
            .await?;
        if !fresh {
            return Err(Error::Unauthorized(
                "this X-Addon-Signature was already used; sign every request afresh".into(),
            ));
        }
        Ok(manifest)
    }

    /// A partner's callback, from authentication to its JSON answer: basic auth and signature
    /// first (nothing is read before), then the action on the partner's own add-on.
    pub async fn callback(
        &self,
        authorization: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        uuid: &str,
        action: CallbackAction,
    ) -> Result<Value> {
        let manifest = self.authenticate(authorization, signature, body).await?;
        let parsed = || -> Result<Value> {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(json!({}));
            }
            serde_json::from_slice(body)
                .map_err(|e| Error::BadRequest(clip(&format!("request body is not valid JSON: {e}"))))
        };
        Ok(match action {
            CallbackAction::Config => {
                let names = self.update_config(&manifest, uuid, &parsed()?).await?;
                json!({ "id": uuid, "config_vars": names })
            }
            CallbackAction::Provisioned => {
                json!({ "id": uuid, "state": self.provision_done(&manifest, uuid, &parsed()?).await? })
            }
            CallbackAction::Deprovisioned => {
                json!({ "id": uuid, "state": self.deprovision_done(&manifest, uuid).await? })
            }
        })
    }

    /// The instance a partner's callback is about: 404 when unknown, 403 when it is another
    /// provider's.
    async fn own_instance(&self, manifest: &Manifest, uuid: &str) -> Result<Instance> {
        crate::provisioning::validate_id("add-on id", uuid)?;
        let id = uuid.to_string();
        let inst = self
            .inner
            .db
            .run(move |c| Instance::find(c, &id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("add-on {uuid} does not exist")))?;
        let owner = self.inner.catalog.current().owner(&inst.service_id).map(str::to_string);
        if owner.as_deref() != Some(manifest.id.as_str()) {
            return Err(Error::Forbidden(format!(
                "add-on {uuid} is not one of provider {}'s add-ons",
                manifest.id
            )));
        }
        Ok(inst)
    }

    /// `PATCH /provider/addons/{uuid}/config`: merges the vars into the add-on's config and
    /// releases them on every app it is attached to (one release per app). Returns the vars'
    /// names.
    pub async fn update_config(&self, manifest: &Manifest, uuid: &str, body: &Value) -> Result<Vec<String>> {
        let inst = self.own_instance(manifest, uuid).await?;
        if !inst.is_live() {
            return Err(Error::Gone(format!("add-on {uuid} is deprovisioned")));
        }
        let changes = config_changes(body)?;
        let prefix = manifest.api.config_vars_prefix.clone();
        let api = manifest.api.clone();
        for (name, value) in &changes {
            if !providers::partner::valid_var(&prefix, name) {
                return Err(Error::Unprocessable(clip(&format!(
                    "config var {name:?} does not start with the prefix {prefix}_"
                ))));
            }
            if !api.config_vars.contains(name) {
                return Err(Error::Unprocessable(clip(&format!(
                    "config var {name} is not declared in the manifest's api.config_vars"
                ))));
            }
            if value.as_ref().is_some_and(|v| v.contains('\0')) {
                return Err(Error::Unprocessable(format!("config var {name} contains a NUL byte")));
            }
        }
        let (sealer, id) = (self.inner.sealer.clone(), inst.id.clone());
        let actor = Actor {
            sub: format!("provider:{}", manifest.id),
            scope: crate::auth::Scope::Provider,
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        let platform = self.inner.platform.clone();
        let provider_id = manifest.id.clone();
        self.inner
            .db
            .write(move |c| {
                // Checked in the transaction: a deprovision that finished meanwhile has deleted
                // the config, which must not come back.
                let state = Instance::find(c, &id)?.map(|i| i.state).unwrap_or_default();
                if state != instance_state::PROVISIONING && state != instance_state::PROVISIONED {
                    return Err(Error::Conflict(format!(
                        "add-on {id} is {state}; its config cannot change"
                    )));
                }
                let mut config = match InstanceConfig::find(c, &id)? {
                    Some(row) => crate::crypto::open_instance_config(&sealer, &row)?.values,
                    None => serde_json::Map::new(),
                };
                for (name, value) in &changes {
                    match value {
                        Some(v) => config.insert(name.clone(), Value::String(v.clone())),
                        None => config.remove(name),
                    };
                }
                let creds = config_to_credentials(&api, &config).map_err(Error::Unprocessable)?;
                let now = now_ms();
                InstanceConfig {
                    instance_id: id.clone(),
                    config: crate::crypto::seal_instance_config(&sealer, &id, &creds)?,
                    updated_at: now,
                }
                .upsert(c)?;
                // Every bound binding carries the add-on's config: keep them the same.
                let bound: Vec<Binding> = bindings::table
                    .filter(bindings::instance_id.eq(&id))
                    .filter(bindings::state.eq(binding_state::BOUND))
                    .select(Binding::as_select())
                    .load(c)?;
                let plain = serde_json::to_vec(&creds).map_err(|e| Error::Internal(e.to_string()))?;
                for mut b in bound {
                    b.credentials = Some(sealer.seal(&plain, &format!("binding/{}", b.id))?);
                    b.updated_at = now;
                    b.save(c)?;
                }
                platform.republish_addon_config(c, &id, &creds.env, &actor)?;
                audit(
                    c,
                    &actor.meta(),
                    "provider.addon.config",
                    format!("instance/{id}"),
                    json!({ "provider": provider_id, "vars": creds.values.keys().collect::<Vec<_>>() }),
                )?;
                Ok(creds.values.keys().cloned().collect())
            })
            .await
    }

    /// `POST /provider/addons/{uuid}/actions/provision`: finishes an asynchronous provision.
    /// The config must be set first (or come in this body).
    pub async fn provision_done(&self, manifest: &Manifest, uuid: &str, body: &Value) -> Result<&'static str> {
        let inst = self.own_instance(manifest, uuid).await?;
        if inst.state == instance_state::PROVISIONING && body.get("config").is_some() {
            self.update_config(manifest, uuid, body).await?;
        }
        if inst.state == instance_state::PROVISIONED && inst.active_operation_id.is_none() {
            return Ok("provisioned");
        }
        if inst.state != instance_state::PROVISIONING {
            return Err(Error::Conflict(format!(
                "add-on {uuid} is {}; it cannot be marked provisioned",
                inst.state
            )));
        }
        let id = inst.id.clone();
        let has_config = self
            .inner
            .db
            .run(move |c| InstanceConfig::find(c, &id))
            .await?
            .is_some();
        if !has_config {
            return Err(Error::Unprocessable(format!(
                "set the add-on's config (PATCH /provider/addons/{uuid}/config) before marking it provisioned"
            )));
        }
        let op = self.pending_operation(&inst, "provision").await?;
        self.finish(&op, uuid).await?;
        self.after_callback(uuid, manifest, "provision").await?;
        // Attach at once rather than at the reconciler's next pass.
        let (platform, id) = (self.inner.platform.clone(), uuid.to_string());
        tokio::spawn(async move {
            let actor = Actor {
                sub: "provider-callback".into(),
                scope: crate::auth::Scope::Admin,
                request_id: uuid::Uuid::new_v4().to_string(),
            };
            if let Err(e) = platform.advance_addon(&id, &actor).await {
                tracing::debug!(addon = %id, error = %e, "attaching after a provision callback; the reconciler retries");
            }
        });
        Ok("provisioned")
    }

    /// `POST /provider/addons/{uuid}/actions/deprovision`: finishes an asynchronous deprovision.
    pub async fn deprovision_done(&self, manifest: &Manifest, uuid: &str) -> Result<&'static str> {
        let inst = self.own_instance(manifest, uuid).await?;
        if inst.state == instance_state::DEPROVISIONED {
            return Ok("deprovisioned");
        }
        let op = self.pending_operation(&inst, "deprovision").await?;
        self.finish(&op, uuid).await?;
        self.after_callback(uuid, manifest, "deprovision").await?;
        Ok("deprovisioned")
    }

    /// Finishes a waiting operation; 409 when it ended meanwhile (failed at its deadline).
    async fn finish(&self, op: &str, uuid: &str) -> Result<()> {
        match self
            .inner
            .platform
            .provisioning()
            .jobs()
            .complete_from_callback(op)
            .await?
        {
            Some(_) => Ok(()),
            None => Err(Error::Conflict(format!(
                "add-on {uuid}'s operation ended before the callback (its deadline passed)"
            ))),
        }
    }

    async fn pending_operation(&self, inst: &Instance, kind: &str) -> Result<String> {
        let op_id = inst
            .active_operation_id
            .clone()
            .ok_or_else(|| Error::Conflict(format!("add-on {} has no {kind} waiting for the provider", inst.id)))?;
        let id = op_id.clone();
        let op = self
            .inner
            .db
            .run(move |c| Operation::find(c, &id))
            .await?
            .ok_or_else(|| Error::Internal(format!("operation {op_id} vanished")))?;
        if op.kind != kind || op.state != op_state::IN_PROGRESS {
            return Err(Error::Conflict(format!(
                "add-on {} has no {kind} waiting for the provider (its operation is a {})",
                inst.id, op.kind
            )));
        }
        Ok(op.id)
    }

    async fn after_callback(&self, uuid: &str, manifest: &Manifest, what: &str) -> Result<()> {
        let meta = RequestMeta {
            request_id: None,
            actor: Some(format!("provider:{}", manifest.id)),
        };
        let (target, action) = (format!("instance/{uuid}"), format!("provider.addon.{what}"));
        self.inner
            .db
            .write(move |c| audit(c, &meta, &action, target.clone(), json!({})))
            .await
    }

    /// A single sign-on into an add-on's partner dashboard, for the app's owner (or an admin).
    pub async fn sso(&self, app: String, addon: String, actor: &Actor) -> Result<SsoView> {
        let (addon_row, app_row) = self.inner.platform.addon_of_app(app, addon).await?;
        if actor.scope != crate::auth::Scope::Admin && actor.sub != app_row.owner {
            return Err(Error::Forbidden(format!(
                "only the owner of app {} (or an admin) may sign in to its add-ons",
                app_row.name
            )));
        }
        let id = addon_row.id.clone();
        let inst = self
            .inner
            .db
            .run(move |c| Instance::find(c, &id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("add-on {} has no instance", addon_row.name)))?;
        let owner = self
            .inner
            .catalog
            .current()
            .owner(&inst.service_id)
            .map(str::to_string)
            .ok_or_else(|| Error::Unprocessable(format!("add-on {} has no provider", addon_row.name)))?;
        let row = self
            .inner
            .db
            .run(move |c| find_provider(c, &owner))
            .await
            .map_err(|_| {
                Error::Unprocessable(format!(
                    "add-on {} is a built-in service; it has no single sign-on",
                    addon_row.name
                ))
            })?;
        let Spec::Partner(manifest) = self.open_spec(&row)? else {
            return Err(Error::Unprocessable(format!(
                "add-on {} comes from a federated broker; it has no single sign-on",
                addon_row.name
            )));
        };
        let timestamp = unix_now();
        let token = sso_token(&addon_row.id, &manifest.api.sso_salt, timestamp);
        let mut params = BTreeMap::new();
        params.insert("id".to_string(), addon_row.id.clone());
        params.insert("token".to_string(), token);
        params.insert("timestamp".to_string(), timestamp.to_string());
        params.insert("nav-data".to_string(), String::new());
        params.insert("email".to_string(), actor.sub.clone());
        params.insert("app".to_string(), app_row.name.clone());
        params.insert("context_app".to_string(), app_row.name.clone());
        let mut url = reqwest::Url::parse(&manifest.api.production.sso_url)
            .map_err(|e| Error::Internal(format!("stored sso_url: {e}")))?;
        url.query_pairs_mut().extend_pairs(params.iter());
        let meta = actor.meta();
        let target = format!("addon/{}", addon_row.id);
        self.inner
            .db
            .write(move |c| audit(c, &meta, "platform.addon.sso", target.clone(), json!({})))
            .await?;
        Ok(SsoView {
            method: "POST".into(),
            action: manifest.api.production.sso_url.clone(),
            params,
            url: url.to_string(),
            expires_at: iso((timestamp + providers::signing::REPLAY_WINDOW_SECS) * 1000),
        })
    }
}

/// Heroku's SSO token: hex `sha1("<id>:<salt>:<timestamp>")`.
pub fn sso_token(id: &str, salt: &str, timestamp: i64) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(format!("{id}:{salt}:{timestamp}").as_bytes()))
}

/// Every error named, each clipped (they quote the input) and at most 50 of them.
fn list_errors(errors: &[String]) -> String {
    let mut shown: Vec<String> = errors.iter().take(50).map(|e| clip(e)).collect();
    if errors.len() > 50 {
        shown.push(format!("and {} more", errors.len() - 50));
    }
    shown.join("; ")
}

fn fingerprint(rows: &[MarketProvider]) -> String {
    let mut parts: BTreeSet<String> = BTreeSet::new();
    for r in rows {
        parts.insert(format!("{}/{}/{}", r.id, r.state, r.updated_at));
    }
    parts.into_iter().collect::<Vec<_>>().join(",")
}

/// Reads a federation registration: `id`, `name`, `url`, `username`, `password`,
/// `service_prefix` (defaults to `id`).
fn parse_upstream(body: &Value) -> Result<(UpstreamConfig, String, String)> {
    let mut errors = Vec::new();
    let known = ["kind", "id", "name", "url", "username", "password", "service_prefix"];
    if let Some(map) = body.as_object() {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                errors.push(format!("{key}: is not a field of an OSB broker registration"));
            }
        }
    }
    let text = |field: &str, errors: &mut Vec<String>| match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            errors.push(format!("{field}: is required and must be a non-empty string"));
            String::new()
        }
    };
    let id = text("id", &mut errors);
    if !id.is_empty() && !is_slug(&id) {
        errors.push(format!(
            "id: {id:?} must be 1 to 30 characters of a-z 0-9 -, starting with a letter"
        ));
    }
    let name = text("name", &mut errors);
    let url = text("url", &mut errors);
    if !url.is_empty() {
        check_url("url", &url, &mut errors);
    }
    let username = text("username", &mut errors);
    if username.contains(':') {
        errors.push("username: must not contain ':'".into());
    }
    let password = text("password", &mut errors);
    let prefix = match body.get("service_prefix") {
        None => id.clone(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            errors.push("service_prefix: must be a string".into());
            String::new()
        }
    };
    if !prefix.is_empty() && !is_slug(&prefix) {
        errors.push(format!(
            "service_prefix: {prefix:?} must be a-z 0-9 -, starting with a letter"
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Unprocessable(format!(
            "the registration is invalid: {}",
            list_errors(&errors)
        )));
    }
    Ok((
        UpstreamConfig {
            url,
            username,
            password,
            service_prefix: prefix,
        },
        id,
        name,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sso_token_is_sha1_of_id_salt_and_timestamp() {
        // sha1("abc:salt:1") computed independently with `printf 'abc:salt:1' | sha1sum`.
        assert_eq!(sso_token("abc", "salt", 1), "c70bac735a7f86a4306baaf2f26eef66877f3539");
    }

    #[test]
    fn config_changes_take_both_forms() {
        let list =
            config_changes(&json!({ "config": [{ "name": "A_B", "value": "x" }, { "name": "A_C", "value": null }] }))
                .unwrap();
        assert_eq!(list, vec![("A_B".into(), Some("x".into())), ("A_C".into(), None)]);
        let map = config_changes(&json!({ "config": { "A_B": "x" } })).unwrap();
        assert_eq!(map, vec![("A_B".into(), Some("x".into()))]);
        assert!(config_changes(&json!({ "config": [{ "name": "A_B", "value": 1 }] })).is_err());
        assert!(config_changes(&json!({})).is_err());
    }
}
