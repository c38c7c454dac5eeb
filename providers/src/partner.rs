//! Third-party providers over HTTP: the manifest they register (Heroku's `addon-manifest.json`
//! shape) and the adapter that calls them with Heroku's partner API v3 semantics.
//!
//! Calls: `POST {base_url}` (provision), `PUT {base_url}/{uuid}` (plan change), `DELETE
//! {base_url}/{uuid}` (deprovision), each with basic auth `id:password` and an
//! `X-Addon-Signature` (see [`crate::signing`]) keyed by the manifest's password. A 200 answer is
//! synchronous and carries `config`; a 202 means the provider finishes later and reports back
//! through the broker's callbacks before a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::catalog::{empty_object_schema, plan_schemas, stable_id, MaintenanceInfo, PlanDef, ServiceDef};
use crate::signing::{sign, unix_now, SIGNATURE_HEADER};
use crate::{
    BindRequest, Credentials, DeprovisionRequest, OperationKind, Outcome, Polled, Provider, ProviderError,
    ProvisionRequest, Provisioned, Result, UnbindRequest, UpdateRequest,
};

/// Names a prefix may not take: the built-in services' attachment names and variables every
/// dyno relies on.
const RESERVED_PREFIXES: &[&str] = &["DATABASE", "REDIS", "KAFKA", "PORT", "DYNO", "PATH", "HOME", "HEROKU"];

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

fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.ends_with('-')
}

/// Checks a URL for the manifest: `https`, or `http` to a loopback host only (a test or a
/// provider beside the broker); no credentials in it, no fragment.
pub fn check_url(field: &str, raw: &str, errors: &mut Vec<String>) {
    let url = match reqwest::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => {
            errors.push(format!("{field}: {raw:?} is not a URL ({e})"));
            return;
        }
    };
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => errors.push(format!("{field}: http is allowed for loopback hosts only; use https")),
        other => errors.push(format!("{field}: scheme {other} is not allowed; use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        errors.push(format!("{field}: must not carry credentials"));
    }
    if url.fragment().is_some() {
        errors.push(format!("{field}: must not have a #fragment"));
    }
}

fn string_at<'a>(v: &'a Value, path: &str, errors: &mut Vec<String>) -> Option<&'a str> {
    let pointer = format!("/{}", path.replace('.', "/"));
    match v.pointer(&pointer) {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            errors.push(format!("{path}: must be a string"));
            None
        }
        None => {
            errors.push(format!("{path}: is required"));
            None
        }
    }
}

fn strings_at(v: &Value, path: &str, required: bool, errors: &mut Vec<String>) -> Vec<String> {
    let pointer = format!("/{}", path.replace('.', "/"));
    match v.pointer(&pointer) {
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => errors.push(format!("{path}[{i}]: must be a string")),
                }
            }
            out
        }
        Some(_) => {
            errors.push(format!("{path}: must be an array of strings"));
            Vec::new()
        }
        None if required => {
            errors.push(format!("{path}: is required"));
            Vec::new()
        }
        None => Vec::new(),
    }
}

fn unknown_keys(v: &Value, path: &str, known: &[&str], errors: &mut Vec<String>) {
    if let Some(map) = v.as_object() {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                errors.push(format!("{at}: is not a manifest field"));
            }
        }
    }
}

impl Manifest {
    /// Parses and validates a manifest; every problem is listed, each with its field path.
    pub fn parse(v: &Value) -> std::result::Result<Manifest, Vec<String>> {
        let mut errors = Vec::new();
        if !v.is_object() {
            return Err(vec!["the manifest must be a JSON object".into()]);
        }
        unknown_keys(v, "", &["id", "name", "api", "plans", "kind"], &mut errors);
        let id = string_at(v, "id", &mut errors).unwrap_or_default().to_string();
        if !id.is_empty() && !is_slug(&id, 30) {
            errors.push(format!(
                "id: {id:?} must be 1 to 30 characters of a-z 0-9 -, starting with a letter"
            ));
        }
        let name = string_at(v, "name", &mut errors).unwrap_or_default().to_string();
        if name.trim().is_empty() || name.len() > 100 {
            errors.push("name: must be 1 to 100 characters".into());
        }
        if !v.get("api").is_some_and(Value::is_object) {
            errors.push("api: is required and must be an object".into());
            return Err(errors);
        }
        let api = &v["api"];
        unknown_keys(
            api,
            "api",
            &[
                "config_vars_prefix",
                "config_vars",
                "password",
                "sso_salt",
                "regions",
                "requires",
                "production",
                "version",
            ],
            &mut errors,
        );
        let prefix = string_at(v, "api.config_vars_prefix", &mut errors)
            .unwrap_or_default()
            .to_string();
        let prefix_ok = !prefix.is_empty()
            && prefix.len() <= 30
            && prefix.as_bytes()[0].is_ascii_uppercase()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !prefix.ends_with('_');
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
        let config_vars = strings_at(v, "api.config_vars", true, &mut errors);
        if config_vars.is_empty() && v.pointer("/api/config_vars").is_some() {
            errors.push("api.config_vars: must list at least one config var".into());
        }
        let mut seen = BTreeSet::new();
        for (i, var) in config_vars.iter().enumerate() {
            if prefix_ok && !valid_var(&prefix, var) {
                errors.push(format!(
                    "api.config_vars[{i}]: {var:?} must be {prefix}_ followed by A-Z 0-9 _"
                ));
            }
            if !seen.insert(var) {
                errors.push(format!("api.config_vars[{i}]: {var} is listed twice"));
            }
        }
        let password = string_at(v, "api.password", &mut errors)
            .unwrap_or_default()
            .to_string();
        if !password.is_empty() && password.len() < 16 {
            errors.push("api.password: must be at least 16 characters".into());
        }
        let sso_salt = string_at(v, "api.sso_salt", &mut errors)
            .unwrap_or_default()
            .to_string();
        if !sso_salt.is_empty() && sso_salt.len() < 16 {
            errors.push("api.sso_salt: must be at least 16 characters".into());
        }
        let regions = strings_at(v, "api.regions", true, &mut errors);
        if regions.is_empty() && v.pointer("/api/regions").is_some() {
            errors.push("api.regions: must list at least one region (or \"*\")".into());
        }
        let mut seen = BTreeSet::new();
        for (i, r) in regions.iter().enumerate() {
            let ok = r == "*"
                || (!r.is_empty()
                    && r.len() <= 60
                    && r.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-:_".contains(&b)));
            if !ok {
                errors.push(format!("api.regions[{i}]: {r:?} is not a region name"));
            }
            if !seen.insert(r) {
                errors.push(format!("api.regions[{i}]: {r} is listed twice"));
            }
        }
        let requires = strings_at(v, "api.requires", false, &mut errors);
        let mut seen = BTreeSet::new();
        for (i, r) in requires.iter().enumerate() {
            if !REQUIRES.contains(&r.as_str()) {
                errors.push(format!(
                    "api.requires[{i}]: {r:?} is not supported (use {})",
                    REQUIRES.join(", ")
                ));
            }
            if !seen.insert(r) {
                errors.push(format!("api.requires[{i}]: {r} is listed twice"));
            }
        }
        if let Some(p) = api.get("production") {
            unknown_keys(p, "api.production", &["base_url", "sso_url"], &mut errors);
        }
        let base_url = string_at(v, "api.production.base_url", &mut errors)
            .unwrap_or_default()
            .to_string();
        if !base_url.is_empty() {
            check_url("api.production.base_url", &base_url, &mut errors);
        }
        let sso_url = string_at(v, "api.production.sso_url", &mut errors)
            .unwrap_or_default()
            .to_string();
        if !sso_url.is_empty() {
            check_url("api.production.sso_url", &sso_url, &mut errors);
        }
        let version = string_at(v, "api.version", &mut errors).unwrap_or_default().to_string();
        if !version.is_empty() && version != "3" {
            errors.push(format!("api.version: {version:?} is not supported; use \"3\""));
        }
        let mut plans = Vec::new();
        match v.get("plans") {
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut ids = BTreeSet::new();
                for (i, p) in items.iter().enumerate() {
                    let at = format!("plans[{i}]");
                    if !p.is_object() {
                        errors.push(format!("{at}: must be an object"));
                        continue;
                    }
                    unknown_keys(p, &at, &["id", "name", "description", "schema"], &mut errors);
                    let pid = match p.get("id") {
                        Some(Value::String(s)) => s.clone(),
                        _ => {
                            errors.push(format!("{at}.id: is required and must be a string"));
                            continue;
                        }
                    };
                    if !is_slug(&pid, 30) {
                        errors.push(format!(
                            "{at}.id: {pid:?} must be 1 to 30 characters of a-z 0-9 -, starting with a letter"
                        ));
                    }
                    if !ids.insert(pid.clone()) {
                        errors.push(format!("{at}.id: plan {pid} is defined twice"));
                    }
                    let pname = p.get("name").and_then(Value::as_str).unwrap_or_default();
                    if pname.trim().is_empty() || pname.len() > 100 {
                        errors.push(format!("{at}.name: must be 1 to 100 characters"));
                    }
                    let description = match p.get("description") {
                        None => String::new(),
                        Some(Value::String(s)) if s.len() <= 1000 => s.clone(),
                        Some(_) => {
                            errors.push(format!("{at}.description: must be a string of at most 1000 characters"));
                            String::new()
                        }
                    };
                    let schema = match p.get("schema") {
                        None | Some(Value::Null) => None,
                        Some(s @ Value::Object(_)) => Some(s.clone()),
                        Some(_) => {
                            errors.push(format!("{at}.schema: must be a JSON schema object"));
                            None
                        }
                    };
                    plans.push(ManifestPlan {
                        id: pid,
                        name: pname.to_string(),
                        description,
                        schema,
                    });
                }
            }
            Some(Value::Array(_)) => errors.push("plans: must list at least one plan".into()),
            Some(_) => errors.push("plans: must be an array".into()),
            None => errors.push("plans: is required".into()),
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Manifest {
            id,
            name,
            api: ManifestApi {
                config_vars_prefix: prefix,
                config_vars,
                password,
                sso_salt,
                regions,
                requires,
                production: ManifestEndpoints { base_url, sso_url },
                version,
            },
            plans,
        })
    }

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
            .map(|p| {
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

/// Largest answer read from a provider; answers are small JSON documents, and a hostile
/// provider must not make the broker buffer without bound.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Reads an answer up to [`MAX_ANSWER_BYTES`]; the rest is dropped (and the text then fails to
/// parse as JSON, which the callers report).
pub async fn read_capped(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// Whether a URL points at this host (the manifest rules allow that only in development).
pub fn is_loopback(raw: &str) -> bool {
    reqwest::Url::parse(raw)
        .map(|u| matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
        .unwrap_or(false)
}

/// How the broker reaches a partner and what it tells it.
#[derive(Debug, Clone)]
pub struct PartnerSettings {
    /// The broker's public base URL; callbacks go to `{public_url}/provider/addons/{uuid}`.
    pub public_url: String,
    /// The region sent with provisions.
    pub region: String,
    /// Timeout of one HTTP call.
    pub request_timeout: Duration,
    /// How long an asynchronous provision or deprovision may wait for its callback.
    pub callback_deadline: Duration,
}

/// The HTTP adapter of one registered partner.
pub struct PartnerProvider {
    manifest: Manifest,
    service: ServiceDef,
    client: reqwest::Client,
    settings: PartnerSettings,
    authorization: String,
}

/// A pending operation waits for a callback until `deadline` (ms since the epoch).
#[derive(Debug, Serialize, Deserialize)]
struct CallbackToken {
    uuid: String,
    deadline: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a partner answered, kept short for messages.
fn summary(body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect());
    message.chars().take(300).collect()
}

impl PartnerProvider {
    /// The adapter for a validated manifest.
    pub fn new(manifest: Manifest, client: reqwest::Client, settings: PartnerSettings) -> PartnerProvider {
        let service = manifest.service();
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", manifest.id, manifest.api.password))
        );
        PartnerProvider {
            manifest,
            service,
            client,
            settings,
            authorization,
        }
    }

    /// The manifest served.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn resource_url(&self, uuid: &str) -> String {
        format!(
            "{}/{}",
            self.manifest.api.production.base_url.trim_end_matches('/'),
            uuid
        )
    }

    /// Sends one signed request; transport errors and 5xx/429 are transient. Every body
    /// carries a fresh `request_id`: the signature covers only the timestamp and the body, so
    /// two requests with equal bodies in one second would otherwise sign alike, and a provider
    /// that refuses replays would refuse the second.
    async fn call(&self, method: reqwest::Method, url: &str, body: Option<&Value>) -> Result<(u16, String)> {
        let mut body = body.cloned().unwrap_or_else(|| json!({}));
        if let Some(map) = body.as_object_mut() {
            map.insert("request_id".into(), json!(uuid::Uuid::new_v4().to_string()));
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| ProviderError::Failed(e.to_string()))?;
        let signature = sign(self.manifest.api.password.as_bytes(), unix_now(), &bytes);
        let mut request = self
            .client
            .request(method.clone(), url)
            .timeout(self.settings.request_timeout)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(SIGNATURE_HEADER, signature)
            .header(reqwest::header::ACCEPT, "application/vnd.heroku-addons+json; version=3");
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        let response = request.send().await.map_err(|e| {
            let why = if e.is_timeout() {
                format!("did not answer within {} ms", self.settings.request_timeout.as_millis())
            } else {
                "could not be reached".to_string()
            };
            ProviderError::Transient(format!("provider {} {why} ({method} {url})", self.manifest.id))
        })?;
        let status = response.status().as_u16();
        let text = read_capped(response).await;
        if status >= 500 || status == 429 {
            return Err(ProviderError::Transient(format!(
                "provider {} answered {status}: {}",
                self.manifest.id,
                summary(&text)
            )));
        }
        Ok((status, text))
    }

    fn refused(&self, what: &str, status: u16, body: &str) -> ProviderError {
        let why = match status {
            401 | 403 => "refused the broker's credentials".to_string(),
            _ => format!("answered {status}"),
        };
        let message = format!("provider {} {why} on {what}: {}", self.manifest.id, summary(body));
        if status == 422 || status == 400 {
            ProviderError::Invalid(message)
        } else {
            ProviderError::Failed(message)
        }
    }

    fn config_of(&self, body: &str) -> Result<Option<Credentials>> {
        let v: Value = serde_json::from_str(body).map_err(|_| {
            ProviderError::Failed(format!(
                "provider {} answered with a body that is not JSON",
                self.manifest.id
            ))
        })?;
        match v.get("config") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => config_to_credentials(&self.manifest.api, map)
                .map(Some)
                .map_err(|m| ProviderError::Failed(format!("provider {}: {m}", self.manifest.id))),
            Some(_) => Err(ProviderError::Failed(format!(
                "provider {}: config must be an object of strings",
                self.manifest.id
            ))),
        }
    }

    fn pending(&self, uuid: &str) -> String {
        let token = CallbackToken {
            uuid: uuid.to_string(),
            deadline: now_ms() + self.settings.callback_deadline.as_millis() as i64,
        };
        serde_json::to_string(&token).unwrap_or_default()
    }
}

#[async_trait]
impl Provider for PartnerProvider {
    fn service(&self) -> &ServiceDef {
        &self.service
    }

    fn check_update(&self, request: &UpdateRequest) -> std::result::Result<(), String> {
        if request.from_plan.id == request.to_plan.id {
            return Err(format!(
                "options of a {} add-on are set at provisioning and cannot change; change the plan instead",
                self.manifest.id
            ));
        }
        Ok(())
    }

    async fn provision(&self, request: &ProvisionRequest) -> Result<Outcome<Provisioned>> {
        let uuid = &request.instance_id;
        let name = request
            .context
            .get("addon_name")
            .and_then(Value::as_str)
            .unwrap_or(uuid)
            .to_string();
        let body = json!({
            "uuid": uuid,
            "plan": request.plan.name,
            "callback_url": format!("{}/provider/addons/{uuid}", self.settings.public_url.trim_end_matches('/')),
            "name": name,
            "options": request.parameters,
            "region": self.settings.region,
        });
        let url = self.manifest.api.production.base_url.clone();
        let (status, text) = self.call(reqwest::Method::POST, &url, Some(&body)).await?;
        match status {
            200 | 201 => {
                let config = self.config_of(&text)?;
                Ok(Outcome::Done(Provisioned {
                    dashboard_url: None,
                    config: Some(config.unwrap_or(Credentials {
                        values: Map::new(),
                        env: BTreeMap::new(),
                    })),
                }))
            }
            202 => Ok(Outcome::Pending(self.pending(uuid))),
            _ => Err(self.refused("provision", status, &text)),
        }
    }

    async fn update(&self, request: &UpdateRequest) -> Result<Outcome<()>> {
        let body = json!({ "uuid": request.instance_id, "plan": request.to_plan.name });
        let (status, text) = self
            .call(
                reqwest::Method::PUT,
                &self.resource_url(&request.instance_id),
                Some(&body),
            )
            .await?;
        match status {
            200..=202 | 204 => Ok(Outcome::Done(())),
            _ => Err(self.refused("plan change", status, &text)),
        }
    }

    async fn deprovision(&self, request: &DeprovisionRequest) -> Result<Outcome<()>> {
        let (status, text) = self
            .call(
                reqwest::Method::DELETE,
                &self.resource_url(&request.instance_id),
                Some(&json!({ "uuid": request.instance_id })),
            )
            .await?;
        match status {
            200 | 201 | 204 | 404 | 410 => Ok(Outcome::Done(())),
            202 => Ok(Outcome::Pending(self.pending(&request.instance_id))),
            _ => Err(self.refused("deprovision", status, &text)),
        }
    }

    async fn bind(&self, request: &BindRequest) -> Result<Outcome<Credentials>> {
        // The partner API has no per-attachment credentials: every attachment carries the
        // add-on's config, as on Heroku.
        request
            .instance_config
            .clone()
            .map(Outcome::Done)
            .ok_or_else(|| ProviderError::Failed("the add-on has no config yet".into()))
    }

    async fn unbind(&self, _request: &UnbindRequest) -> Result<Outcome<()>> {
        Ok(Outcome::Done(()))
    }

    async fn poll(&self, kind: OperationKind, token: &str) -> Result<Outcome<Polled>> {
        let token: CallbackToken = serde_json::from_str(token)
            .map_err(|_| ProviderError::Failed("the pending operation's token is not readable".into()))?;
        if now_ms() < token.deadline {
            // Completion comes through the callbacks, which finish the operation themselves.
            return Ok(Outcome::Pending(serde_json::to_string(&token).unwrap_or_default()));
        }
        let waited = self.settings.callback_deadline.as_millis();
        match kind {
            OperationKind::Provision => {
                // Clean up whatever the provider made before giving up on it.
                let (status, text) = self
                    .call(
                        reqwest::Method::DELETE,
                        &self.resource_url(&token.uuid),
                        Some(&json!({ "uuid": token.uuid })),
                    )
                    .await?;
                let cleanup = match status {
                    200..=204 | 404 | 410 => "deprovision sent".to_string(),
                    _ => format!("deprovision answered {status}: {}", summary(&text)),
                };
                Err(ProviderError::Failed(format!(
                    "provider {} did not complete the provision within {waited} ms; {cleanup}",
                    self.manifest.id
                )))
            }
            other => Err(ProviderError::Failed(format!(
                "provider {} did not confirm the {} within {waited} ms",
                self.manifest.id,
                other.as_str()
            ))),
        }
    }

    async fn health(&self) -> Result<()> {
        self.call(reqwest::Method::GET, &self.manifest.api.production.base_url, None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        json!({
            "id": "acme-cache",
            "name": "Acme Cache",
            "api": {
                "config_vars_prefix": "ACME",
                "config_vars": ["ACME_URL", "ACME_TOKEN"],
                "password": "0123456789abcdef0123",
                "sso_salt": "salt-salt-salt-salt",
                "regions": ["us", "eu"],
                "requires": ["attachable"],
                "production": { "base_url": "https://acme.example/heroku/resources", "sso_url": "https://acme.example/sso" },
                "version": "3"
            },
            "plans": [{ "id": "basic", "name": "Basic", "description": "Small" }]
        })
    }

    #[test]
    fn a_good_manifest_parses_and_hides_its_secrets() {
        let m = Manifest::parse(&good()).unwrap();
        assert_eq!(m.service().name, "acme-cache");
        assert_eq!(m.service().plans[0].name, "basic");
        let shown = m.public_view().to_string();
        assert!(!shown.contains("0123456789abcdef0123") && !shown.contains("salt-salt"));
        assert!(!format!("{m:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn every_error_is_named_by_its_field() {
        let mut v = good();
        v["id"] = json!("Bad Id");
        v["api"]["config_vars"] = json!(["OTHER_URL", "ACME_URL", "ACME_URL"]);
        v["api"]["production"]["base_url"] = json!("ftp://acme.example/x");
        v["api"]["production"]["sso_url"] = json!("http://acme.example/sso");
        v["api"]["version"] = json!("2");
        v["plans"] = json!([{ "id": "basic", "name": "A" }, { "id": "basic", "name": "" }]);
        let errors = Manifest::parse(&v).unwrap_err().join("\n");
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
    fn config_keys_must_carry_the_prefix_and_be_declared() {
        let ok = json!({ "ACME_URL": "https://x" });
        let api = Manifest::parse(&good()).unwrap().api;
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
}
