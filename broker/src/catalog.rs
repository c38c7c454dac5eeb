//! The broker's catalog: the configured providers, their services and plans, the pre-rendered
//! `/v2/catalog` body, and the compiled parameter schemas of every plan.

use std::collections::HashMap;
use std::sync::Arc;

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

/// The catalog with its providers.
pub struct Catalog {
    providers: Vec<Arc<dyn Provider>>,
    by_service: HashMap<String, usize>,
    validators: HashMap<(String, SchemaKind), jsonschema::Validator>,
    body: bytes_body::Body,
}

mod bytes_body {
    /// The rendered catalog, shared without copying.
    pub type Body = std::sync::Arc<[u8]>;
}

impl Catalog {
    /// Builds the catalog; fails when a plan's schema is not valid draft-04.
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Result<Catalog> {
        let mut by_service = HashMap::new();
        let mut validators = HashMap::new();
        for (i, provider) in providers.iter().enumerate() {
            let service = provider.service();
            by_service.insert(service.id.clone(), i);
            for plan in &service.plans {
                for (kind, schema) in [
                    (SchemaKind::InstanceCreate, plan.instance_create_schema()),
                    (SchemaKind::InstanceUpdate, plan.instance_update_schema()),
                    (SchemaKind::BindingCreate, plan.binding_create_schema()),
                ] {
                    if let Some(schema) = schema {
                        let validator = jsonschema::draft4::new(schema)
                            .map_err(|e| Error::Internal(format!("plan {} schema: {e}", plan.name)))?;
                        validators.insert((plan.id.clone(), kind), validator);
                    }
                }
            }
        }
        let services: Vec<&ServiceDef> = providers.iter().map(|p| p.service()).collect();
        let body = serde_json::to_vec(&json!({ "services": services }))
            .map_err(|e| Error::Internal(format!("rendering the catalog: {e}")))?;
        Ok(Catalog {
            providers,
            by_service,
            validators,
            body: body.into(),
        })
    }

    /// The `/v2/catalog` body, rendered once.
    pub fn body(&self) -> bytes_body::Body {
        self.body.clone()
    }

    /// All services.
    pub fn services(&self) -> impl Iterator<Item = &ServiceDef> {
        self.providers.iter().map(|p| p.service())
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
