//! The manifest a partner registers (Heroku's `addon-manifest.json` shape), once validated: what
//! is stored (sealed), what operators see of it, the catalog service it offers, and the rules its
//! config vars follow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::catalog::{empty_object_schema, plan_schemas, stable_id, MaintenanceInfo, PlanDef, ServiceDef};
use crate::Credentials;

/// What `api.requires` may list.
pub const REQUIRES: &[&str] = &["attachable", "many_per_app"];

/// A provider's manifest, validated. `Debug` hides the password and SSO salt.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The provider's slug; also the add-on service's name (`acme-cache`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The `api` section.
    pub api: ManifestApi,
    /// The plans.
    pub plans: Vec<ManifestPlan>,
}

/// The manifest's `api` section.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestApi {
    /// Every config var starts with this and an underscore (`ACME`).
    pub config_vars_prefix: String,
    /// The config vars the add-on sets.
    pub config_vars: Vec<String>,
    /// Shared secret: basic auth password and the HMAC key of `X-Addon-Signature`.
    pub password: String,
    /// Salt of SSO tokens.
    pub sso_salt: String,
    /// Regions served (`*` for all).
    pub regions: Vec<String>,
    /// `attachable`, `many_per_app`.
    pub requires: Vec<String>,
    /// Production endpoints.
    pub production: ManifestEndpoints,
    /// Always `"3"`.
    pub version: String,
}

/// Where the provider is reached.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestEndpoints {
    /// Resource endpoint of the partner API.
    pub base_url: String,
    /// Where single sign-on lands.
    pub sso_url: String,
}

/// One plan of a manifest.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestPlan {
    /// Slug used in `service:plan` (`basic`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the plan offers.
    pub description: String,
    /// Optional draft-04 schema of the provisioning options.
    pub schema: Option<Value>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("prefix", &self.api.config_vars_prefix)
            .field("base_url", &self.api.production.base_url)
            .finish_non_exhaustive()
    }
}

impl Manifest {
    /// The manifest as shown back to operators: the password and salt are not echoed.
    pub fn public_view(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(api) = v.get_mut("api").and_then(Value::as_object_mut) {
            api.insert("password".into(), json!("[redacted]"));
            api.insert("sso_salt".into(), json!("[redacted]"));
        }
        v
    }

    /// The catalog entry of the add-on service this manifest offers.
    pub fn service(&self) -> ServiceDef {
        let plans = self
            .plans
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let create = p.schema.clone().unwrap_or_else(
                    || json!({ "$schema": "http://json-schema.org/draft-04/schema#", "type": "object" }),
                );
                PlanDef {
                    id: stable_id(&format!("partner:{}:{}", self.id, p.id)),
                    name: p.id.clone(),
                    description: if p.description.is_empty() {
                        p.name.clone()
                    } else {
                        p.description.clone()
                    },
                    free: false,
                    bindable: true,
                    plan_updateable: true,
                    maintenance_info: MaintenanceInfo {
                        version: "1.0.0".into(),
                        description: "Managed by the provider".into(),
                    },
                    // Options are given once, at provisioning (Heroku's partner API has no way
                    // to change them later).
                    schemas: plan_schemas(create, empty_object_schema(), empty_object_schema()),
                    metadata: json!({ "displayName": p.name }),
                    // The manifest's first plan is the one `addons:create <service>` takes.
                    default: i == 0,
                }
            })
            .collect();
        ServiceDef {
            id: stable_id(&format!("partner:{}", self.id)),
            name: self.id.clone(),
            description: format!("{} (third-party add-on)", self.name),
            tags: vec!["partner".into()],
            bindable: true,
            instances_retrievable: true,
            bindings_retrievable: true,
            plan_updateable: true,
            metadata: json!({
                "displayName": self.name,
                "providerDisplayName": self.name,
                "addonRequires": self.api.requires,
                "configVarsPrefix": self.api.config_vars_prefix,
            }),
            plans,
        }
    }
}

/// Whether `var` is `<prefix>_` followed by at least one of A-Z 0-9 _.
pub fn valid_var(prefix: &str, var: &str) -> bool {
    var.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|suffix| {
            !suffix.is_empty()
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// Turns a provider's `config` into credentials: every key must be `<prefix>_<SUFFIX>`, one of
/// the manifest's declared `config_vars` (what the operator approved), and every value a
/// string; the env suffixes are what the platform prefixes with the attachment name.
pub fn config_to_credentials(
    api: &ManifestApi,
    config: &Map<String, Value>,
) -> std::result::Result<Credentials, String> {
    let prefix = api.config_vars_prefix.as_str();
    let mut env = BTreeMap::new();
    for (key, value) in config {
        if !valid_var(prefix, key) {
            return Err(format!(
                "config var {key:?} does not start with the prefix {prefix}_ (or has characters other than A-Z 0-9 _)"
            ));
        }
        if !api.config_vars.iter().any(|v| v == key) {
            return Err(format!(
                "config var {key} is not declared in the manifest's api.config_vars"
            ));
        }
        let Some(text) = value.as_str() else {
            return Err(format!("config var {key} must be a string"));
        };
        if text.contains('\0') {
            return Err(format!("config var {key} contains a NUL byte"));
        }
        env.insert(key[prefix.len() + 1..].to_string(), text.to_string());
    }
    Ok(Credentials {
        values: config.clone(),
        env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_manifest_parses_and_hides_its_secrets() {
        let m = Manifest::parse(&super::super::sample()).unwrap();
        assert_eq!(m.service().name, "acme-cache");
        assert_eq!(m.service().plans[0].name, "basic");
        assert!(m.service().plans[0].default, "the first plan is the default");
        let shown = m.public_view().to_string();
        assert!(!shown.contains("0123456789abcdef0123") && !shown.contains("salt-salt"));
        assert!(!format!("{m:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn config_keys_must_carry_the_prefix_and_be_declared() {
        let ok = json!({ "ACME_URL": "https://x" });
        let api = Manifest::parse(&super::super::sample()).unwrap().api;
        let creds = config_to_credentials(&api, ok.as_object().unwrap()).unwrap();
        assert_eq!(creds.env["URL"], "https://x");
        for bad in [
            json!({ "OTHER_URL": "x" }),
            json!({ "ACME": "x" }),
            json!({ "ACME_URL": 1 }),
            json!({ "ACME_UNDECLARED": "x" }),
        ] {
            assert!(config_to_credentials(&api, bad.as_object().unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_plan_of_a_manifest_is_the_only_default() {
        let mut sample = super::super::sample();
        sample["plans"] = json!([
            { "id": "basic", "name": "Basic", "description": "Small" },
            { "id": "pro", "name": "Pro", "description": "Large" },
        ]);
        let service = Manifest::parse(&sample).unwrap().service();
        let defaults: Vec<&str> = service
            .plans
            .iter()
            .filter(|p| p.default)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(defaults, ["basic"]);
        assert_eq!(service.default_plan().map(|p| p.name.as_str()), Some("basic"));
        let shown = serde_json::to_value(&service).unwrap();
        assert!(
            shown["plans"][0].get("default").is_none(),
            "not part of the OSB catalog"
        );
    }
}
