//! Catalog entries (services and plans) in the shape the OSB `/v2/catalog` answers with.

use serde::Serialize;
use serde_json::{json, Value};

/// Namespace of the broker's stable catalog ids (a UUIDv5 namespace of its own).
const CATALOG_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d1c_4a4e_2b7f_4f5e_9a51_8c0e_3b2a_1d90);

/// A stable id for a catalog entry: the same name always gives the same UUID, so platforms that
/// stored a service or plan id keep finding it across broker versions and restarts.
pub fn stable_id(name: &str) -> String {
    uuid::Uuid::new_v5(&CATALOG_NAMESPACE, name.as_bytes()).to_string()
}

/// One service offering of the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceDef {
    /// Stable service id.
    pub id: String,
    /// The public service name (`postgresql`).
    pub name: String,
    /// Human description.
    pub description: String,
    /// Search tags.
    pub tags: Vec<String>,
    /// Whether instances can be bound.
    pub bindable: bool,
    /// Whether `GET /v2/service_instances/:id` is supported.
    pub instances_retrievable: bool,
    /// Whether `GET …/service_bindings/:id` is supported.
    pub bindings_retrievable: bool,
    /// Whether plans may be changed by update.
    pub plan_updateable: bool,
    /// Display metadata (OSB profile conventions).
    pub metadata: Value,
    /// The plans of the service.
    pub plans: Vec<PlanDef>,
}

impl ServiceDef {
    /// The plan a bare service name means (the one marked `default`, else the first).
    pub fn default_plan(&self) -> Option<&PlanDef> {
        self.plans.iter().find(|p| p.default).or_else(|| self.plans.first())
    }
}

/// The version and description of a plan's maintenance level (`maintenance_info`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MaintenanceInfo {
    /// Semantic version; a request naming another version is a `MaintenanceInfoConflict`.
    pub version: String,
    /// What this maintenance level brings.
    pub description: String,
}

/// One plan of a service.
#[derive(Debug, Clone, Serialize)]
pub struct PlanDef {
    /// Stable plan id.
    pub id: String,
    /// The public plan name (`shared`).
    pub name: String,
    /// Human description, including what limits the plan enforces.
    pub description: String,
    /// Whether the plan is free.
    pub free: bool,
    /// Whether instances of this plan can be bound.
    pub bindable: bool,
    /// Whether instances of this plan can change plan.
    pub plan_updateable: bool,
    /// The plan's maintenance level.
    pub maintenance_info: MaintenanceInfo,
    /// The OSB `schemas` object: JSON schemas (draft-04) of the accepted parameters.
    pub schemas: Value,
    /// Display metadata.
    pub metadata: Value,
    /// Whether a bare service name (`redis` for `redis:shared`) means this plan: exactly one
    /// plan per service, the first the service lists. Not part of the OSB catalog.
    #[serde(skip)]
    pub default: bool,
}

impl PlanDef {
    /// The draft-04 schema for instance creation parameters.
    pub fn instance_create_schema(&self) -> Option<&Value> {
        self.schemas.pointer("/service_instance/create/parameters")
    }

    /// The draft-04 schema for instance update parameters.
    pub fn instance_update_schema(&self) -> Option<&Value> {
        self.schemas.pointer("/service_instance/update/parameters")
    }

    /// The draft-04 schema for binding parameters.
    pub fn binding_create_schema(&self) -> Option<&Value> {
        self.schemas.pointer("/service_binding/create/parameters")
    }
}

/// Builds the OSB `schemas` object from the three parameter schemas.
pub fn plan_schemas(instance_create: Value, instance_update: Value, binding_create: Value) -> Value {
    json!({
        "service_instance": {
            "create": { "parameters": instance_create },
            "update": { "parameters": instance_update },
        },
        "service_binding": {
            "create": { "parameters": binding_create },
        },
    })
}

/// A draft-04 schema for an object that accepts no properties at all.
pub fn empty_object_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "additionalProperties": false,
        "properties": {},
    })
}

/// What differs between the built-in services' catalog entries; [`Offering::build`] fills in the
/// rest the same way for all of them (stable ids, bindable, retrievable, maintenance 1.0.0).
pub struct Offering<'a> {
    /// Service name.
    pub service: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Service description.
    pub description: &'a str,
    /// Search tags.
    pub tags: &'a [&'a str],
    /// Whether plans may change in place.
    pub plan_updateable: bool,
    /// What the maintenance level is.
    pub maintenance: &'a str,
}

/// What differs between the plans of one service.
pub struct PlanSpec {
    /// Plan name.
    pub name: String,
    /// Plan description.
    pub description: String,
    /// The OSB `schemas` object.
    pub schemas: Value,
    /// Extra plan metadata (merged over `displayName`).
    pub metadata: Value,
}

impl Offering<'_> {
    /// The service with these plans.
    pub fn build(&self, plans: impl IntoIterator<Item = PlanSpec>) -> ServiceDef {
        let plans = plans
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let mut metadata = json!({ "displayName": format!("{} {}", self.display_name, p.name) });
                if let (Some(into), Value::Object(extra)) = (metadata.as_object_mut(), p.metadata) {
                    into.extend(extra);
                }
                PlanDef {
                    id: stable_id(&format!("{}:{}", self.service, p.name)),
                    name: p.name,
                    description: p.description,
                    free: true,
                    bindable: true,
                    plan_updateable: self.plan_updateable,
                    maintenance_info: MaintenanceInfo {
                        version: "1.0.0".into(),
                        description: self.maintenance.into(),
                    },
                    schemas: p.schemas,
                    metadata,
                    default: i == 0,
                }
            })
            .collect();
        ServiceDef {
            id: stable_id(self.service),
            name: self.service.into(),
            description: self.description.into(),
            tags: self.tags.iter().map(|t| t.to_string()).collect(),
            bindable: true,
            instances_retrievable: true,
            bindings_retrievable: true,
            plan_updateable: self.plan_updateable,
            metadata: json!({ "displayName": self.display_name, "providerDisplayName": "addon-broker" }),
            plans,
        }
    }
}
