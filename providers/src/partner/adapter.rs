//! The HTTP adapter of a registered partner: provision, plan change and deprovision calls with
//! Heroku's partner API v3 semantics, each signed, and the deadline of the callbacks it waits for.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{config_to_credentials, Manifest};
use crate::catalog::ServiceDef;
use crate::signing::{sign, unix_now, SIGNATURE_HEADER};
use crate::{
    BindRequest, Credentials, DeprovisionRequest, OperationKind, Outcome, Polled, Provider, ProviderError,
    ProvisionRequest, Provisioned, Result, UnbindRequest, UpdateRequest,
};

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
