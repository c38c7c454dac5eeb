//! The broker's catalog: the built-in and registered providers, their services and plans, the
//! pre-rendered `/v2/catalog` body, and the compiled parameter schemas of every plan.
//!
//! A catalog is an immutable snapshot; [`CatalogHandle`] swaps in a new one when providers are
//! registered, approved, disabled or removed. Services of providers that are not approved stay
//! known (their instances can still be bound, updated and deprovisioned) but are not offered.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use providers::{PlanDef, Provider, ServiceDef};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Longest validation message echoed back; hostile input can make messages huge.
const MAX_MESSAGE: usize = 300;

/// Which parameters a schema applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaKind {
    /// Instance creation.
    InstanceCreate,
    /// Instance update.
    InstanceUpdate,
    /// Binding creation.
    BindingCreate,
}

/// One provider of a catalog: who owns it and whether its service is offered.
#[derive(Clone)]
pub struct Entry {
    /// The adapter.
    pub provider: Arc<dyn Provider>,
    /// The owning provider's id (the service name for built-ins).
    pub owner: String,
    /// Whether new instances may be created (built-ins, approved providers).
    pub offered: bool,
}

/// The catalog with its providers.
pub struct Catalog {
    providers: Vec<Arc<dyn Provider>>,
    entries: Vec<Entry>,
    by_service: HashMap<String, usize>,
    validators: HashMap<(String, SchemaKind), jsonschema::Validator>,
    body: bytes_body::Body,
}

mod bytes_body {
    /// The rendered catalog, shared without copying.
    pub type Body = std::sync::Arc<[u8]>;
}

impl Catalog {
    /// Builds a catalog of built-in providers, all offered; fails when a plan's schema is not
    /// valid draft-04.
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Result<Catalog> {
        let entries = providers
            .into_iter()
            .map(|p| Entry {
                owner: p.service().name.clone(),
                provider: p,
                offered: true,
            })
            .collect();
        Catalog::from_entries(entries)
    }

    /// Builds a catalog of these entries; fails when a plan's schema is not valid draft-04 or
    /// two services share an id or a name.
    pub fn from_entries(entries: Vec<Entry>) -> Result<Catalog> {
        let providers: Vec<Arc<dyn Provider>> = entries.iter().map(|e| e.provider.clone()).collect();
        let mut by_service = HashMap::new();
        let mut names = HashMap::new();
        let mut validators = HashMap::new();
        for (i, provider) in providers.iter().enumerate() {
            let service = provider.service();
            if by_service.insert(service.id.clone(), i).is_some() {
                return Err(Error::Conflict(format!("service id {} is offered twice", service.id)));
            }
            if let Some(j) = names.insert(service.name.clone(), i) {
                return Err(Error::Conflict(format!(
                    "service name {} is taken (by provider {})",
                    service.name, entries[j].owner
                )));
            }
            for plan in &service.plans {
                for (kind, schema) in [
                    (SchemaKind::InstanceCreate, plan.instance_create_schema()),
                    (SchemaKind::InstanceUpdate, plan.instance_update_schema()),
                    (SchemaKind::BindingCreate, plan.binding_create_schema()),
                ] {
                    if let Some(schema) = schema {
                        let validator = jsonschema::draft4::new(schema).map_err(|e| {
                            Error::Unprocessable(clip(&format!(
                                "plan {}:{} has a schema that is not valid draft-04: {e}",
                                service.name, plan.name
                            )))
                        })?;
                        validators.insert((plan.id.clone(), kind), validator);
                    }
                }
            }
        }
        let services: Vec<&ServiceDef> = entries
            .iter()
            .filter(|e| e.offered)
            .map(|e| e.provider.service())
            .collect();
        let body = serde_json::to_vec(&json!({ "services": services }))
            .map_err(|e| Error::internal("rendering the catalog", e))?;
        Ok(Catalog {
            providers,
            entries,
            by_service,
            validators,
            body: body.into(),
        })
    }

    /// The `/v2/catalog` body, rendered once.
    pub fn body(&self) -> bytes_body::Body {
        self.body.clone()
    }

    /// The services offered for new instances.
    pub fn services(&self) -> impl Iterator<Item = &ServiceDef> {
        self.entries.iter().filter(|e| e.offered).map(|e| e.provider.service())
    }

    /// The id of the provider that owns a service, offered or not.
    pub fn owner(&self, service_id: &str) -> Option<&str> {
        self.by_service.get(service_id).map(|&i| self.entries[i].owner.as_str())
    }

    /// Every entry, offered or not.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The ids of a provider's services.
    pub fn services_of(&self, owner: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.owner == owner)
            .map(|e| e.provider.service().id.clone())
            .collect()
    }

    /// Like [`Catalog::resolve`], for new instances: the service must be offered.
    pub fn resolve_offered(&self, service_id: &str, plan_id: &str) -> Result<(&Arc<dyn Provider>, &PlanDef)> {
        let offered = self
            .by_service
            .get(service_id)
            .is_some_and(|&i| self.entries[i].offered);
        if !offered {
            return Err(Error::BadRequest(format!(
                "service_id {} is not in the catalog",
                clip(service_id)
            )));
        }
        self.resolve(service_id, plan_id)
    }

    /// The provider of a service id.
    pub fn provider(&self, service_id: &str) -> Option<&Arc<dyn Provider>> {
        self.by_service.get(service_id).map(|&i| &self.providers[i])
    }

    /// The provider and plan for a service and plan id; 400 when either is unknown or the plan
    /// is not the service's.
    pub fn resolve(&self, service_id: &str, plan_id: &str) -> Result<(&Arc<dyn Provider>, &PlanDef)> {
        let provider = self
            .provider(service_id)
            .ok_or_else(|| Error::BadRequest(format!("service_id {} is not in the catalog", clip(service_id))))?;
        let plan = provider
            .service()
            .plans
            .iter()
            .find(|p| p.id == plan_id)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "plan_id {} is not a plan of service {}",
                    clip(plan_id),
                    provider.service().name
                ))
            })?;
        Ok((provider, plan))
    }

    /// Validates `parameters` against a plan's schema; a violation is a 400 naming the field.
    pub fn validate(&self, plan: &PlanDef, kind: SchemaKind, parameters: &Value) -> Result<()> {
        let Some(validator) = self.validators.get(&(plan.id.clone(), kind)) else {
            return Ok(());
        };
        if let Some(error) = validator.iter_errors(parameters).next() {
            let path = error.instance_path().to_string();
            let field = if path.is_empty() {
                "parameters".to_string()
            } else {
                format!("parameters{path}")
            };
            return Err(Error::BadRequest(clip(&format!(
                "{field} is invalid for plan {}: {}",
                plan.name,
                error.masked()
            ))));
        }
        Ok(())
    }
}

/// Shortens text echoed back from untrusted input.
pub fn clip(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// The current catalog, replaced as a whole when providers change. Cheap to clone.
#[derive(Clone)]
pub struct CatalogHandle {
    current: Arc<RwLock<Arc<Catalog>>>,
}

impl CatalogHandle {
    /// A handle on `catalog`.
    pub fn new(catalog: Catalog) -> CatalogHandle {
        CatalogHandle {
            current: Arc::new(RwLock::new(Arc::new(catalog))),
        }
    }

    /// The catalog now; a snapshot that stays valid while held.
    pub fn current(&self) -> Arc<Catalog> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a new catalog.
    pub fn replace(&self, catalog: Catalog) {
        let catalog = Arc::new(catalog);
        match self.current.write() {
            Ok(mut c) => *c = catalog,
            Err(poisoned) => *poisoned.into_inner() = catalog,
        }
    }
}
