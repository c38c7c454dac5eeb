//! Federation: an existing OSB broker registered as a provider. Its catalog's services appear in
//! ours under a prefix (`<prefix>-<name>`), with ids of our own, and every call is proxied to it
//! with its credentials: asynchronous operations become pending tokens polled through its
//! `last_operation` endpoints, and its 410s are read as the spec means them (already gone).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::catalog::{stable_id, MaintenanceInfo, PlanDef, ServiceDef};
use crate::{
    BindRequest, Credentials, DeprovisionRequest, OperationKind, Outcome, Polled, Provider, ProviderError,
    ProvisionRequest, Provisioned, Result, UnbindRequest, UpdateRequest,
};

/// The OSB API version the broker speaks to upstream brokers.
pub const API_VERSION: &str = "2.17";

/// Where an upstream broker is and how to log in. `Debug` hides the password.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct UpstreamConfig {
    /// Base URL (the catalog is at `{url}/v2/catalog`).
    pub url: String,
    /// Basic auth user.
    pub username: String,
    /// Basic auth password.
    pub password: String,
    /// Prefix of our names for its services (`<prefix>-<service>`).
    pub service_prefix: String,
}

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("service_prefix", &self.service_prefix)
            .finish_non_exhaustive()
    }
}

/// The query of calls that accept asynchronous answers.
const INCOMPLETE: &[(&str, &str)] = &[("accepts_incomplete", "true")];

/// A client of one upstream broker.
pub struct Upstream {
    provider_id: String,
    config: UpstreamConfig,
    client: reqwest::Client,
    timeout: Duration,
}

/// What a pending upstream operation needs to be polled.
#[derive(Debug, Serialize, Deserialize)]
struct PollToken {
    instance: String,
    binding: Option<String>,
    service_id: String,
    plan_id: String,
    operation: Option<String>,
}

fn description(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("description")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
        .chars()
        .take(300)
        .collect()
}

fn is_service_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Env-var suffixes from an OSB credentials object: `URL` from `uri` or `url`, and every other
/// scalar whose key makes a variable name (`host` → `HOST`).
pub fn credentials_env(values: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (key, value) in values {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        let suffix = match key.as_str() {
            "uri" | "url" => "URL".to_string(),
            other => other.to_ascii_uppercase().replace('-', "_"),
        };
        let ok = !suffix.is_empty()
            && suffix.as_bytes()[0].is_ascii_uppercase()
            && suffix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if ok && !text.contains('\0') {
            env.entry(suffix).or_insert(text);
        }
    }
    env
}

impl Upstream {
    /// A client for `config`, registered as provider `provider_id`.
    pub fn new(provider_id: &str, config: UpstreamConfig, client: reqwest::Client, timeout: Duration) -> Upstream {
        Upstream {
            provider_id: provider_id.to_string(),
            config,
            client,
            timeout,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.config.url.trim_end_matches('/'));
        let mut request = self
            .client
            .request(method.clone(), &url)
            .query(query)
            .timeout(self.timeout)
            .basic_auth(&self.config.username, Some(&self.config.password))
            .header("X-Broker-API-Version", API_VERSION);
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| {
            let why = if e.is_timeout() {
                "timed out"
            } else {
                "could not be reached"
            };
            ProviderError::Transient(format!("upstream broker {} {why} ({method} {path})", self.provider_id))
        })?;
        let status = response.status().as_u16();
        let text = crate::partner::read_capped(response).await;
        if status >= 500 || status == 429 {
            return Err(ProviderError::Transient(format!(
                "upstream broker {} answered {status}: {}",
                self.provider_id,
                description(&text)
            )));
        }
        Ok((status, text))
    }

    fn refused(&self, what: &str, status: u16, body: &str) -> ProviderError {
        let message = format!(
            "upstream broker {} answered {status} to {what}: {}",
            self.provider_id,
            description(body)
        );
        match status {
            400 | 422 => ProviderError::Invalid(message),
            _ => ProviderError::Failed(message),
        }
    }

    /// Fetches the upstream catalog.
    pub async fn fetch_catalog(&self) -> Result<Value> {
        let (status, text) = self.send(reqwest::Method::GET, "/v2/catalog", &[], None).await?;
        if status != 200 {
            return Err(self.refused("GET /v2/catalog", status, &text));
        }
        serde_json::from_str(&text).map_err(|_| {
            ProviderError::Failed(format!("upstream broker {}: the catalog is not JSON", self.provider_id))
        })
    }

    /// Our providers for an upstream catalog: one per usable service. Services whose names
    /// cannot be ours (not `a-z 0-9 -`) are listed in the second value and left out.
    pub fn services(self: &Arc<Self>, catalog: &Value) -> (Vec<Arc<dyn Provider>>, Vec<String>) {
        let mut out: Vec<Arc<dyn Provider>> = Vec::new();
        let mut skipped = Vec::new();
        let empty = Vec::new();
        for svc in catalog.get("services").and_then(Value::as_array).unwrap_or(&empty) {
            let (Some(id), Some(name)) = (
                svc.get("id").and_then(Value::as_str),
                svc.get("name").and_then(Value::as_str),
            ) else {
                skipped.push("a service without id or name".to_string());
                continue;
            };
            if !is_service_name(name) {
                skipped.push(format!("service {name:?}: its name is not a-z 0-9 -"));
                continue;
            }
            let our_name = format!("{}-{name}", self.config.service_prefix);
            let mut plan_map = HashMap::new();
            let mut plans = Vec::new();
            for plan in svc.get("plans").and_then(Value::as_array).unwrap_or(&empty) {
                let (Some(pid), Some(pname)) = (
                    plan.get("id").and_then(Value::as_str),
                    plan.get("name").and_then(Value::as_str),
                ) else {
                    continue;
                };
                if !is_service_name(pname) {
                    skipped.push(format!("plan {name}:{pname:?}: its name is not a-z 0-9 -"));
                    continue;
                }
                let our_id = stable_id(&format!("osb:{}:{id}:{pid}", self.provider_id));
                plan_map.insert(our_id.clone(), pid.to_string());
                let bindable = plan
                    .get("bindable")
                    .and_then(Value::as_bool)
                    .or_else(|| svc.get("bindable").and_then(Value::as_bool))
                    .unwrap_or(true);
                let maintenance = plan
                    .get("maintenance_info")
                    .and_then(|m| m.get("version"))
                    .and_then(Value::as_str)
                    .unwrap_or("1.0.0");
                plans.push(PlanDef {
                    id: our_id,
                    name: pname.to_string(),
                    description: plan
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or(pname)
                        .to_string(),
                    free: plan.get("free").and_then(Value::as_bool).unwrap_or(true),
                    bindable,
                    plan_updateable: plan
                        .get("plan_updateable")
                        .and_then(Value::as_bool)
                        .or_else(|| svc.get("plan_updateable").and_then(Value::as_bool))
                        .unwrap_or(false),
                    maintenance_info: MaintenanceInfo {
                        version: maintenance.to_string(),
                        description: format!("as upstream broker {}", self.provider_id),
                    },
                    // The upstream validates its own parameters; ours passes them through.
                    schemas: plan.get("schemas").cloned().unwrap_or(json!({})),
                    metadata: plan.get("metadata").cloned().unwrap_or(json!({})),
                    // The upstream's first usable plan is the one a bare service name takes.
                    default: plans.is_empty(),
                });
            }
            if plans.is_empty() {
                skipped.push(format!("service {name}: no usable plans"));
                continue;
            }
            let default_attachment = match name {
                "postgresql" | "postgres" => "DATABASE".to_string(),
                other => other.to_ascii_uppercase().replace('-', "_"),
            };
            let service = ServiceDef {
                id: stable_id(&format!("osb:{}:{id}", self.provider_id)),
                name: our_name,
                description: svc
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_string(),
                tags: svc
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|t| t.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                bindable: svc.get("bindable").and_then(Value::as_bool).unwrap_or(true),
                instances_retrievable: true,
                bindings_retrievable: true,
                plan_updateable: svc.get("plan_updateable").and_then(Value::as_bool).unwrap_or(false),
                metadata: json!({
                    "displayName": name,
                    "providerDisplayName": format!("upstream broker {}", self.provider_id),
                    "defaultAttachmentName": default_attachment,
                }),
                plans,
            };
            out.push(Arc::new(Federated {
                upstream: self.clone(),
                service,
                upstream_service_id: id.to_string(),
                plan_map,
            }));
        }
        (out, skipped)
    }
}

/// One upstream service, served as ours.
pub struct Federated {
    upstream: Arc<Upstream>,
    service: ServiceDef,
    upstream_service_id: String,
    plan_map: HashMap<String, String>,
}

impl Federated {
    fn upstream_plan(&self, plan: &PlanDef) -> Result<String> {
        self.plan_map
            .get(&plan.id)
            .cloned()
            .ok_or_else(|| ProviderError::Failed(format!("plan {} is not in the upstream catalog", plan.name)))
    }

    fn token(&self, instance: &str, binding: Option<&str>, plan: &str, body: &str) -> String {
        let operation = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("operation").and_then(Value::as_str).map(str::to_string));
        serde_json::to_string(&PollToken {
            instance: instance.to_string(),
            binding: binding.map(str::to_string),
            service_id: self.upstream_service_id.clone(),
            plan_id: plan.to_string(),
            operation,
        })
        .unwrap_or_default()
    }

    fn credentials(&self, body: &str) -> Result<Credentials> {
        let v: Value = serde_json::from_str(body).map_err(|_| {
            ProviderError::Failed(format!(
                "upstream broker {}: the binding is not JSON",
                self.upstream.provider_id
            ))
        })?;
        let values = v
            .get("credentials")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok(Credentials {
            env: credentials_env(&values),
            values,
        })
    }
}

#[async_trait]
impl Provider for Federated {
    fn service(&self) -> &ServiceDef {
        &self.service
    }

    fn check_update(&self, request: &UpdateRequest) -> std::result::Result<(), String> {
        if request.from_plan.id != request.to_plan.id && !request.from_plan.plan_updateable {
            return Err(format!("plan {} cannot be changed", request.from_plan.name));
        }
        Ok(())
    }

    async fn provision(&self, request: &ProvisionRequest) -> Result<Outcome<Provisioned>> {
        let plan = self.upstream_plan(&request.plan)?;
        let body = json!({
            "service_id": self.upstream_service_id,
            "plan_id": plan,
            "organization_guid": "addon-broker",
            "space_guid": "addon-broker",
            "context": request.context,
            "parameters": request.parameters,
        });
        let path = format!("/v2/service_instances/{}", request.instance_id);
        let (status, text) = self
            .upstream
            .send(reqwest::Method::PUT, &path, INCOMPLETE, Some(&body))
            .await?;
        match status {
            200 | 201 => Ok(Outcome::Done(Provisioned {
                dashboard_url: serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("dashboard_url").and_then(Value::as_str).map(str::to_string)),
                config: None,
            })),
            202 => Ok(Outcome::Pending(self.token(&request.instance_id, None, &plan, &text))),
            _ => Err(self.upstream.refused("provision", status, &text)),
        }
    }

    async fn update(&self, request: &UpdateRequest) -> Result<Outcome<()>> {
        let plan = self.upstream_plan(&request.to_plan)?;
        let body = json!({
            "service_id": self.upstream_service_id,
            "plan_id": plan,
            "parameters": request.parameters,
        });
        let path = format!("/v2/service_instances/{}", request.instance_id);
        let (status, text) = self
            .upstream
            .send(reqwest::Method::PATCH, &path, INCOMPLETE, Some(&body))
            .await?;
        match status {
            200 => Ok(Outcome::Done(())),
            202 => Ok(Outcome::Pending(self.token(&request.instance_id, None, &plan, &text))),
            _ => Err(self.upstream.refused("update", status, &text)),
        }
    }

    async fn deprovision(&self, request: &DeprovisionRequest) -> Result<Outcome<()>> {
        let plan = self.upstream_plan(&request.plan)?;
        let q = [
            ("service_id", self.upstream_service_id.as_str()),
            ("plan_id", plan.as_str()),
            ("accepts_incomplete", "true"),
        ];
        let path = format!("/v2/service_instances/{}", request.instance_id);
        let (status, text) = self.upstream.send(reqwest::Method::DELETE, &path, &q, None).await?;
        match status {
            200 | 410 => Ok(Outcome::Done(())),
            202 => Ok(Outcome::Pending(self.token(&request.instance_id, None, &plan, &text))),
            _ => Err(self.upstream.refused("deprovision", status, &text)),
        }
    }

    async fn bind(&self, request: &BindRequest) -> Result<Outcome<Credentials>> {
        let plan = self.upstream_plan(&request.plan)?;
        let body = json!({
            "service_id": self.upstream_service_id,
            "plan_id": plan,
            "bind_resource": {},
            "parameters": request.parameters,
        });
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}",
            request.instance_id, request.binding_id
        );
        let (status, text) = self
            .upstream
            .send(reqwest::Method::PUT, &path, INCOMPLETE, Some(&body))
            .await?;
        match status {
            200 | 201 => Ok(Outcome::Done(self.credentials(&text)?)),
            202 => Ok(Outcome::Pending(self.token(
                &request.instance_id,
                Some(&request.binding_id),
                &plan,
                &text,
            ))),
            _ => Err(self.upstream.refused("bind", status, &text)),
        }
    }

    async fn unbind(&self, request: &UnbindRequest) -> Result<Outcome<()>> {
        let plan = self.upstream_plan(&request.plan)?;
        let q = [
            ("service_id", self.upstream_service_id.as_str()),
            ("plan_id", plan.as_str()),
            ("accepts_incomplete", "true"),
        ];
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}",
            request.instance_id, request.binding_id
        );
        let (status, text) = self.upstream.send(reqwest::Method::DELETE, &path, &q, None).await?;
        match status {
            200 | 410 => Ok(Outcome::Done(())),
            202 => Ok(Outcome::Pending(self.token(
                &request.instance_id,
                Some(&request.binding_id),
                &plan,
                &text,
            ))),
            _ => Err(self.upstream.refused("unbind", status, &text)),
        }
    }

    async fn poll(&self, kind: OperationKind, token: &str) -> Result<Outcome<Polled>> {
        let t: PollToken = serde_json::from_str(token)
            .map_err(|_| ProviderError::Failed("the pending operation's token is not readable".into()))?;
        let mut pairs = vec![("service_id", t.service_id.as_str()), ("plan_id", t.plan_id.as_str())];
        if let Some(op) = &t.operation {
            pairs.push(("operation", op.as_str()));
        }
        let base = match &t.binding {
            Some(b) => format!("/v2/service_instances/{}/service_bindings/{b}", t.instance),
            None => format!("/v2/service_instances/{}", t.instance),
        };
        let (status, text) = self
            .upstream
            .send(reqwest::Method::GET, &format!("{base}/last_operation"), &pairs, None)
            .await?;
        let gone_is_done = matches!(kind, OperationKind::Deprovision | OperationKind::Unbind);
        match status {
            // The spec: a 410 from last_operation after a delete means the resource is gone.
            410 if gone_is_done => return Ok(Outcome::Done(Polled::Finished)),
            200 => {}
            _ => return Err(self.upstream.refused("last_operation", status, &text)),
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match v.get("state").and_then(Value::as_str) {
            Some("in progress") => Ok(Outcome::Pending(token.to_string())),
            Some("succeeded") => match kind {
                OperationKind::Bind => {
                    let (status, text) = self.upstream.send(reqwest::Method::GET, &base, &[], None).await?;
                    if status != 200 {
                        return Err(self.upstream.refused("fetching the binding", status, &text));
                    }
                    Ok(Outcome::Done(Polled::Bound(self.credentials(&text)?)))
                }
                _ => Ok(Outcome::Done(Polled::Finished)),
            },
            Some("failed") => Err(ProviderError::Failed(format!(
                "upstream broker {}: {} failed: {}",
                self.upstream.provider_id,
                kind.as_str(),
                v.get("description").and_then(Value::as_str).unwrap_or("no description")
            ))),
            _ => Err(ProviderError::Failed(format!(
                "upstream broker {}: last_operation answered without a state",
                self.upstream.provider_id
            ))),
        }
    }

    async fn health(&self) -> Result<()> {
        self.upstream.fetch_catalog().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_become_env_suffixes() {
        let v = json!({ "uri": "postgres://x", "port": 5432, "host": "h", "nested": {}, "bad key!": "x" });
        let env = credentials_env(v.as_object().unwrap());
        assert_eq!(env["URL"], "postgres://x");
        assert_eq!(env["PORT"], "5432");
        assert_eq!(env["HOST"], "h");
        assert_eq!(env.len(), 3);
    }

    #[test]
    fn upstream_services_get_the_prefix_and_ids_of_our_own() {
        let up = Arc::new(Upstream::new(
            "fed",
            UpstreamConfig {
                url: "http://127.0.0.1:1".into(),
                username: "u".into(),
                password: "p".into(),
                service_prefix: "fed".into(),
            },
            reqwest::Client::new(),
            Duration::from_secs(1),
        ));
        let catalog = json!({ "services": [
            { "id": "s1", "name": "postgresql", "plans": [{ "id": "p1", "name": "shared" }] },
            { "id": "s2", "name": "Bad:Name", "plans": [{ "id": "p2", "name": "x" }] },
        ]});
        let (services, skipped) = up.services(&catalog);
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].service().name, "fed-postgresql");
        assert_ne!(services[0].service().id, "s1");
        assert_eq!(skipped.len(), 1);
    }
}
