//! Reading a submitted manifest: `Deserialize` drafts that accept any JSON object (a wrong type
//! or an unknown field is kept, not refused), and a `validate()` that names every problem by its
//! field path, in document order, before anything is built.
//!
//! The drafts are lenient on purpose: serde stops at the first error and words it its own way,
//! while a submitter needs every problem at once, in the messages the API documents.

use std::collections::BTreeSet;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::manifest::{valid_var, Manifest, ManifestApi, ManifestEndpoints, ManifestPlan, REQUIRES};
use super::urls::check_url;

/// Names a prefix may not take: the built-in services' attachment names and variables every
/// dyno relies on.
const RESERVED_PREFIXES: &[&str] = &["DATABASE", "REDIS", "KAFKA", "PORT", "DYNO", "PATH", "HOME", "HEROKU"];

/// A field as submitted: of the expected type, of another type, or absent (`null` is a value
/// of another type, not an absence).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Field<T> {
    /// The expected type.
    Valid(T),
    /// Any other JSON value.
    Invalid(IgnoredAny),
    /// Not in the document.
    #[default]
    #[serde(skip)]
    Absent,
}

impl<T> Field<T> {
    fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

/// A list of strings as submitted; each item is checked on its own.
type Strings = Field<Vec<Field<String>>>;

/// A submitted manifest.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ManifestDraft {
    id: Field<String>,
    name: Field<String>,
    api: Field<ApiDraft>,
    plans: Field<Vec<Field<PlanDraft>>>,
    /// The registration's kind, which the broker reads (`partner`); known, so not refused.
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
    /// Fields a manifest does not have: each is refused.
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

/// A submitted `api` section.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiDraft {
    config_vars_prefix: Field<String>,
    config_vars: Strings,
    password: Field<String>,
    sso_salt: Field<String>,
    regions: Strings,
    requires: Strings,
    production: Field<EndpointsDraft>,
    version: Field<String>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

/// A submitted `api.production` section.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EndpointsDraft {
    base_url: Field<String>,
    sso_url: Field<String>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

/// A submitted plan.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PlanDraft {
    id: Field<String>,
    name: Field<String>,
    description: Field<String>,
    /// `null` counts as absent.
    schema: Option<Value>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

impl Manifest {
    /// Parses and validates a manifest; every problem is listed, each with its field path.
    pub fn parse(v: &Value) -> std::result::Result<Manifest, Vec<String>> {
        let not_object = || vec!["the manifest must be a JSON object".to_string()];
        if !v.is_object() {
            return Err(not_object());
        }
        // Every field is lenient, so an object always deserializes.
        ManifestDraft::deserialize(v).map_err(|_| not_object())?.validate()
    }
}

fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.ends_with('-')
}

fn is_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 30
        && s.as_bytes()[0].is_ascii_uppercase()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !s.ends_with('_')
}

fn is_region(r: &str) -> bool {
    r == "*"
        || (!r.is_empty()
            && r.len() <= 60
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-:_".contains(&b)))
}

/// Names every unknown field under `path`.
fn refuse_unknown(unknown: &Map<String, Value>, path: &str, errors: &mut Vec<String>) {
    for key in unknown.keys() {
        if path.is_empty() {
            errors.push(format!("{key}: is not a manifest field"));
        } else {
            errors.push(format!("{path}.{key}: is not a manifest field"));
        }
    }
}

/// A required string; empty (and named) when absent or not a string.
fn text(field: &Field<String>, path: &str, errors: &mut Vec<String>) -> String {
    match field {
        Field::Valid(s) => s.clone(),
        Field::Invalid(_) => {
            errors.push(format!("{path}: must be a string"));
            String::new()
        }
        Field::Absent => {
            errors.push(format!("{path}: is required"));
            String::new()
        }
    }
}

/// A list of strings; the items that are strings, every other item named.
fn texts(field: &Strings, path: &str, required: bool, errors: &mut Vec<String>) -> Vec<String> {
    match field {
        Field::Valid(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Field::Valid(s) => out.push(s.clone()),
                    _ => errors.push(format!("{path}[{i}]: must be a string")),
                }
            }
            out
        }
        Field::Invalid(_) => {
            errors.push(format!("{path}: must be an array of strings"));
            Vec::new()
        }
        Field::Absent => {
            if required {
                errors.push(format!("{path}: is required"));
            }
            Vec::new()
        }
    }
}

/// Runs `check` on each item, then names the item if it was listed before: the errors come in
/// item order.
fn each_once(
    items: &[String],
    path: &str,
    errors: &mut Vec<String>,
    mut check: impl FnMut(usize, &str, &mut Vec<String>),
) {
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        check(i, item, errors);
        if !seen.insert(item) {
            errors.push(format!("{path}[{i}]: {item} is listed twice"));
        }
    }
}

/// A secret of at least 16 characters.
fn secret(field: &Field<String>, path: &str, errors: &mut Vec<String>) -> String {
    let value = text(field, path, errors);
    if !value.is_empty() && value.len() < 16 {
        errors.push(format!("{path}: must be at least 16 characters"));
    }
    value
}

/// An endpoint URL (see [`check_url`]).
fn url(field: &Field<String>, path: &str, errors: &mut Vec<String>) -> String {
    let value = text(field, path, errors);
    if !value.is_empty() {
        check_url(path, &value, errors);
    }
    value
}

impl ManifestDraft {
    /// The manifest, or every problem found.
    fn validate(&self) -> std::result::Result<Manifest, Vec<String>> {
        let mut errors = Vec::new();
        refuse_unknown(&self.unknown, "", &mut errors);
        let id = text(&self.id, "id", &mut errors);
        if !id.is_empty() && !is_slug(&id, 30) {
            errors.push(format!(
                "id: {id:?} must be 1 to 30 characters of a-z 0-9 -, starting with a letter"
            ));
        }
        let name = text(&self.name, "name", &mut errors);
        if name.trim().is_empty() || name.len() > 100 {
            errors.push("name: must be 1 to 100 characters".into());
        }
        let Field::Valid(api) = &self.api else {
            // Nothing below can be read without it.
            errors.push("api: is required and must be an object".into());
            return Err(errors);
        };
        let api = api.validate(&mut errors);
        let plans = validate_plans(&self.plans, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Manifest { id, name, api, plans })
    }
}

impl ApiDraft {
    fn validate(&self, errors: &mut Vec<String>) -> ManifestApi {
        refuse_unknown(&self.unknown, "api", errors);
        let (config_vars_prefix, config_vars) = self.config_vars(errors);
        let password = secret(&self.password, "api.password", errors);
        let sso_salt = secret(&self.sso_salt, "api.sso_salt", errors);
        let regions = texts(&self.regions, "api.regions", true, errors);
        if regions.is_empty() && self.regions.is_present() {
            errors.push("api.regions: must list at least one region (or \"*\")".into());
        }
        each_once(&regions, "api.regions", errors, |i, r, errors| {
            if !is_region(r) {
                errors.push(format!("api.regions[{i}]: {r:?} is not a region name"));
            }
        });
        let requires = texts(&self.requires, "api.requires", false, errors);
        each_once(&requires, "api.requires", errors, |i, r, errors| {
            if !REQUIRES.contains(&r) {
                errors.push(format!(
                    "api.requires[{i}]: {r:?} is not supported (use {})",
                    REQUIRES.join(", ")
                ));
            }
        });
        let production = self.production(errors);
        let version = text(&self.version, "api.version", errors);
        if !version.is_empty() && version != "3" {
            errors.push(format!("api.version: {version:?} is not supported; use \"3\""));
        }
        ManifestApi {
            config_vars_prefix,
            config_vars,
            password,
            sso_salt,
            regions,
            requires,
            production,
            version,
        }
    }

    /// The prefix and the config vars, which must carry it (checked only when the prefix is
    /// valid, to name one mistake once).
    fn config_vars(&self, errors: &mut Vec<String>) -> (String, Vec<String>) {
        let prefix = text(&self.config_vars_prefix, "api.config_vars_prefix", errors);
        let prefix_ok = is_prefix(&prefix);
        if !prefix.is_empty() && !prefix_ok {
            errors.push(format!(
                "api.config_vars_prefix: {prefix:?} must be 1 to 30 characters of A-Z 0-9 _, starting with a letter and not ending with _"
            ));
        }
        if RESERVED_PREFIXES
            .iter()
            .any(|r| prefix == *r || prefix.starts_with(&format!("{r}_")))
        {
            errors.push(format!("api.config_vars_prefix: {prefix} is reserved"));
        }
        let vars = texts(&self.config_vars, "api.config_vars", true, errors);
        if vars.is_empty() && self.config_vars.is_present() {
            errors.push("api.config_vars: must list at least one config var".into());
        }
        each_once(&vars, "api.config_vars", errors, |i, var, errors| {
            if prefix_ok && !valid_var(&prefix, var) {
                errors.push(format!(
                    "api.config_vars[{i}]: {var:?} must be {prefix}_ followed by A-Z 0-9 _"
                ));
            }
        });
        (prefix, vars)
    }

    /// `api.production`; a value that is not an object has neither URL.
    fn production(&self, errors: &mut Vec<String>) -> ManifestEndpoints {
        let absent = Field::Absent;
        let (base_url, sso_url) = match &self.production {
            Field::Valid(p) => {
                refuse_unknown(&p.unknown, "api.production", errors);
                (&p.base_url, &p.sso_url)
            }
            _ => (&absent, &absent),
        };
        ManifestEndpoints {
            base_url: url(base_url, "api.production.base_url", errors),
            sso_url: url(sso_url, "api.production.sso_url", errors),
        }
    }
}

/// The plans: at least one, ids unique.
fn validate_plans(plans: &Field<Vec<Field<PlanDraft>>>, errors: &mut Vec<String>) -> Vec<ManifestPlan> {
    let items = match plans {
        Field::Valid(items) if !items.is_empty() => items,
        Field::Valid(_) => {
            errors.push("plans: must list at least one plan".into());
            return Vec::new();
        }
        Field::Invalid(_) => {
            errors.push("plans: must be an array".into());
            return Vec::new();
        }
        Field::Absent => {
            errors.push("plans: is required".into());
            return Vec::new();
        }
    };
    let mut ids = BTreeSet::new();
    let mut out = Vec::new();
    for (i, plan) in items.iter().enumerate() {
        let at = format!("plans[{i}]");
        match plan {
            Field::Valid(plan) => out.extend(plan.validate(&at, &mut ids, errors)),
            _ => errors.push(format!("{at}: must be an object")),
        }
    }
    out
}

impl PlanDraft {
    /// The plan at `at`; none when it has no id to name it by.
    fn validate(&self, at: &str, ids: &mut BTreeSet<String>, errors: &mut Vec<String>) -> Option<ManifestPlan> {
        refuse_unknown(&self.unknown, at, errors);
        let Field::Valid(id) = &self.id else {
            errors.push(format!("{at}.id: is required and must be a string"));
            return None;
        };
        if !is_slug(id, 30) {
            errors.push(format!(
                "{at}.id: {id:?} must be 1 to 30 characters of a-z 0-9 -, starting with a letter"
            ));
        }
        if !ids.insert(id.clone()) {
            errors.push(format!("{at}.id: plan {id} is defined twice"));
        }
        let name = match &self.name {
            Field::Valid(name) => name.clone(),
            _ => String::new(),
        };
        if name.trim().is_empty() || name.len() > 100 {
            errors.push(format!("{at}.name: must be 1 to 100 characters"));
        }
        let description = match &self.description {
            Field::Absent => String::new(),
            Field::Valid(d) if d.len() <= 1000 => d.clone(),
            _ => {
                errors.push(format!("{at}.description: must be a string of at most 1000 characters"));
                String::new()
            }
        };
        let schema = match &self.schema {
            None => None,
            Some(s @ Value::Object(_)) => Some(s.clone()),
            Some(_) => {
                errors.push(format!("{at}.schema: must be a JSON schema object"));
                None
            }
        };
        Some(ManifestPlan {
            id: id.clone(),
            name,
            description,
            schema,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors_of(v: &Value) -> Vec<String> {
        Manifest::parse(v).unwrap_err()
    }

    #[test]
    fn every_error_is_named_by_its_field() {
        let mut v = super::super::sample();
        v["id"] = json!("Bad Id");
        v["api"]["config_vars"] = json!(["OTHER_URL", "ACME_URL", "ACME_URL"]);
        v["api"]["production"]["base_url"] = json!("ftp://acme.example/x");
        v["api"]["production"]["sso_url"] = json!("http://acme.example/sso");
        v["api"]["version"] = json!("2");
        v["plans"] = json!([{ "id": "basic", "name": "A" }, { "id": "basic", "name": "" }]);
        let errors = errors_of(&v).join("\n");
        for want in [
            "id: \"Bad Id\"",
            "api.config_vars[0]: \"OTHER_URL\" must be ACME_",
            "api.config_vars[2]: ACME_URL is listed twice",
            "api.production.base_url: scheme ftp",
            "api.production.sso_url: http is allowed for loopback hosts only",
            "api.version: \"2\"",
            "plans[1].id: plan basic is defined twice",
            "plans[1].name: must be 1 to 100",
        ] {
            assert!(errors.contains(want), "missing {want:?} in\n{errors}");
        }
    }

    #[test]
    fn only_an_object_is_a_manifest() {
        for v in [json!([]), json!("x"), json!(null), json!(1)] {
            assert_eq!(errors_of(&v), vec!["the manifest must be a JSON object"]);
        }
    }

    #[test]
    fn without_an_api_object_nothing_below_it_is_checked() {
        for api in [json!(null), json!([]), json!("api")] {
            let mut v = super::super::sample();
            v["api"] = api;
            v["plans"] = json!("not checked");
            assert_eq!(errors_of(&v), vec!["api: is required and must be an object"]);
        }
        let v = json!({ "surprise": 1, "kind": "partner" });
        assert_eq!(
            errors_of(&v),
            vec![
                "surprise: is not a manifest field",
                "id: is required",
                "name: is required",
                "name: must be 1 to 100 characters",
                "api: is required and must be an object",
            ]
        );
    }

    #[test]
    fn wrong_types_and_missing_fields_are_named_in_document_order() {
        let mut v = super::super::sample();
        v["name"] = json!(7);
        v["api"]["extra"] = json!(true);
        v["api"]["config_vars_prefix"] = json!(null);
        v["api"]["config_vars"] = json!("ACME_URL");
        v["api"].as_object_mut().unwrap().remove("password");
        v["api"]["regions"] = json!([1, "eu"]);
        v["api"]["requires"] = json!({});
        v["api"]["production"] = json!({ "sso_url": "https://a.example/sso", "docs": "x" });
        v["api"]["version"] = json!(3);
        assert_eq!(
            errors_of(&v),
            vec![
                "name: must be a string",
                "name: must be 1 to 100 characters",
                "api.extra: is not a manifest field",
                "api.config_vars_prefix: must be a string",
                "api.config_vars: must be an array of strings",
                "api.config_vars: must list at least one config var",
                "api.password: is required",
                "api.regions[0]: must be a string",
                "api.requires: must be an array of strings",
                "api.production.docs: is not a manifest field",
                "api.production.base_url: is required",
                "api.version: must be a string",
            ]
        );
    }

    #[test]
    fn prefix_secrets_regions_and_requires_follow_their_rules() {
        let mut v = super::super::sample();
        v["api"]["config_vars_prefix"] = json!("REDIS_X");
        v["api"]["config_vars"] = json!([]);
        v["api"]["password"] = json!("short");
        v["api"]["sso_salt"] = json!("salty");
        v["api"]["regions"] = json!(["us", "US East", "us"]);
        v["api"]["requires"] = json!(["attachable", "syslog_drain", "attachable"]);
        v["api"]["production"] = json!("https://acme.example");
        assert_eq!(
            errors_of(&v),
            vec![
                "api.config_vars_prefix: REDIS_X is reserved",
                "api.config_vars: must list at least one config var",
                "api.password: must be at least 16 characters",
                "api.sso_salt: must be at least 16 characters",
                "api.regions[1]: \"US East\" is not a region name",
                "api.regions[2]: us is listed twice",
                "api.requires[1]: \"syslog_drain\" is not supported (use attachable, many_per_app)",
                "api.requires[2]: attachable is listed twice",
                "api.production.base_url: is required",
                "api.production.sso_url: is required",
            ]
        );
        v["api"]["config_vars_prefix"] = json!("acme_");
        v["api"]["regions"] = json!([]);
        let errors = errors_of(&v);
        assert!(errors.contains(&"api.config_vars_prefix: \"acme_\" must be 1 to 30 characters of A-Z 0-9 _, starting with a letter and not ending with _".to_string()));
        assert!(errors.contains(&"api.regions: must list at least one region (or \"*\")".to_string()));
    }

    #[test]
    fn urls_carry_no_credentials_or_fragment() {
        let mut v = super::super::sample();
        v["api"]["production"]["base_url"] = json!("https://user:pw@acme.example/x#top");
        v["api"]["production"]["sso_url"] = json!("not a url");
        let errors = errors_of(&v);
        assert_eq!(errors[0], "api.production.base_url: must not carry credentials");
        assert_eq!(errors[1], "api.production.base_url: must not have a #fragment");
        assert!(errors[2].starts_with("api.production.sso_url: \"not a url\" is not a URL ("));
    }

    #[test]
    fn plans_are_checked_one_by_one() {
        let mut v = super::super::sample();
        for (plans, want) in [
            (json!(null), "plans: must be an array"),
            (json!({}), "plans: must be an array"),
            (json!([]), "plans: must list at least one plan"),
        ] {
            v["plans"] = plans;
            assert_eq!(errors_of(&v), vec![want]);
        }
        v.as_object_mut().unwrap().remove("plans");
        assert_eq!(errors_of(&v), vec!["plans: is required"]);
        v["plans"] = json!([
            "basic",
            { "name": "No id", "price": 1 },
            { "id": "big", "name": "Big", "description": "x".repeat(1001), "schema": [] },
            { "id": "null-schema", "name": "N", "description": 5, "schema": null },
        ]);
        assert_eq!(
            errors_of(&v),
            vec![
                "plans[0]: must be an object",
                "plans[1].price: is not a manifest field",
                "plans[1].id: is required and must be a string",
                "plans[2].description: must be a string of at most 1000 characters",
                "plans[2].schema: must be a JSON schema object",
                "plans[3].description: must be a string of at most 1000 characters",
            ]
        );
    }

    #[test]
    fn a_plan_keeps_its_schema_and_description() {
        let mut v = super::super::sample();
        v["plans"][0]["schema"] = json!({ "type": "object" });
        v["kind"] = json!("partner");
        let m = Manifest::parse(&v).unwrap();
        assert_eq!(m.plans[0].schema, Some(json!({ "type": "object" })));
        assert_eq!(m.plans[0].description, "Small");
        assert_eq!(m.api.requires, vec!["attachable"]);
    }
}
