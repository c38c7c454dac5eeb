//! The OSB side: [`Osb`], a typed Open Service Broker client (basic auth, API version header),
//! the OSB accessors of [`Reply`], and [`encode`] for hostile ids in paths.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::api::Reply;

impl Reply {
    /// The OSB `error` code.
    pub fn error_code(&self) -> Option<&str> {
        self.body.get("error").and_then(Value::as_str)
    }

    /// The OSB `description`.
    pub fn description(&self) -> &str {
        self.body.get("description").and_then(Value::as_str).unwrap_or_default()
    }

    /// The `operation` of a 202.
    pub fn operation(&self) -> String {
        self.body["operation"].as_str().expect("an operation").to_string()
    }
}

/// A typed OSB client.
#[derive(Clone)]
pub struct Osb {
    /// Base URL.
    pub url: String,
    /// Basic auth user.
    pub user: String,
    /// Basic auth password.
    pub password: String,
    /// `X-Broker-API-Version`, or none.
    pub version: Option<String>,
    /// HTTP client.
    pub client: reqwest::Client,
}

/// A catalog service and plan id pair.
#[derive(Debug, Clone)]
pub struct PlanRef {
    /// Service id.
    pub service_id: String,
    /// Plan id.
    pub plan_id: String,
}

impl Osb {
    /// A raw request with auth and version headers set.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .request(method, format!("{}{}", self.url, path))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(v) = &self.version {
            rb = rb.header("X-Broker-API-Version", v);
        }
        rb
    }

    /// Sends a request and collects the reply.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Reply {
        Reply::collect(rb).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    /// The catalog.
    pub async fn catalog(&self) -> Value {
        self.get("/v2/catalog").await.expect(200).body
    }

    /// Ids of `service:plan` from the catalog.
    pub async fn plan(&self, service: &str, plan: &str) -> PlanRef {
        let catalog = self.catalog().await;
        let s = catalog["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service)
            .unwrap_or_else(|| panic!("service {service} in catalog"));
        let p = s["plans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == plan)
            .unwrap();
        PlanRef {
            service_id: s["id"].as_str().unwrap().into(),
            plan_id: p["id"].as_str().unwrap().into(),
        }
    }

    fn incomplete(accepts_incomplete: bool) -> &'static str {
        if accepts_incomplete {
            "?accepts_incomplete=true"
        } else {
            ""
        }
    }

    /// `PUT /v2/service_instances/:id` with the usual fields and `parameters`.
    pub async fn provision(&self, id: &str, plan: &PlanRef, parameters: Value, accepts_incomplete: bool) -> Reply {
        let body = json!({
            "service_id": plan.service_id,
            "plan_id": plan.plan_id,
            "organization_guid": "org-1",
            "space_guid": "space-1",
            "context": { "platform": "test" },
            "parameters": parameters,
        });
        self.provision_raw(id, body, accepts_incomplete).await
    }

    /// A new instance of `plan` and a binding of it, both synchronous: the instance id and
    /// the binding's credentials.
    pub async fn bound(&self, plan: &PlanRef, prefix: &str) -> (String, Value) {
        let id = crate::unique(prefix);
        self.provision(&id, plan, json!({}), false).await.expect(201);
        let creds = self
            .bind(&id, &crate::unique("b"), plan, json!({}), false)
            .await
            .expect(201)
            .body["credentials"]
            .clone();
        (id, creds)
    }

    /// `PUT /v2/service_instances/:id` with any body.
    pub async fn provision_raw(&self, id: &str, body: Value, accepts_incomplete: bool) -> Reply {
        let path = format!(
            "/v2/service_instances/{}{}",
            encode(id),
            Self::incomplete(accepts_incomplete)
        );
        self.send(self.request(Method::PUT, &path).json(&body)).await
    }

    /// `PATCH /v2/service_instances/:id`.
    pub async fn update(&self, id: &str, body: Value, accepts_incomplete: bool) -> Reply {
        let path = format!(
            "/v2/service_instances/{}{}",
            encode(id),
            Self::incomplete(accepts_incomplete)
        );
        self.send(self.request(Method::PATCH, &path).json(&body)).await
    }

    /// `DELETE /v2/service_instances/:id`.
    pub async fn deprovision(&self, id: &str, plan: &PlanRef, accepts_incomplete: bool) -> Reply {
        let path = format!(
            "/v2/service_instances/{}?service_id={}&plan_id={}{}",
            encode(id),
            plan.service_id,
            plan.plan_id,
            if accepts_incomplete {
                "&accepts_incomplete=true"
            } else {
                ""
            }
        );
        self.send(self.request(Method::DELETE, &path)).await
    }

    /// `GET …/last_operation`.
    pub async fn last_operation(&self, id: &str, operation: Option<&str>) -> Reply {
        let q = operation
            .map(|o| format!("?operation={}", encode(o)))
            .unwrap_or_default();
        self.get(&format!("/v2/service_instances/{}/last_operation{q}", encode(id)))
            .await
    }

    /// `PUT …/service_bindings/:bid`.
    pub async fn bind(
        &self,
        id: &str,
        bid: &str,
        plan: &PlanRef,
        parameters: Value,
        accepts_incomplete: bool,
    ) -> Reply {
        let body = json!({
            "service_id": plan.service_id,
            "plan_id": plan.plan_id,
            "bind_resource": { "app_guid": "app-1" },
            "parameters": parameters,
        });
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}{}",
            encode(id),
            encode(bid),
            Self::incomplete(accepts_incomplete)
        );
        self.send(self.request(Method::PUT, &path).json(&body)).await
    }

    /// `DELETE …/service_bindings/:bid`.
    pub async fn unbind(&self, id: &str, bid: &str, plan: &PlanRef, accepts_incomplete: bool) -> Reply {
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}?service_id={}&plan_id={}{}",
            encode(id),
            encode(bid),
            plan.service_id,
            plan.plan_id,
            if accepts_incomplete {
                "&accepts_incomplete=true"
            } else {
                ""
            }
        );
        self.send(self.request(Method::DELETE, &path)).await
    }

    /// Polls `last_operation` until it leaves `in progress` (at most `timeout`).
    pub async fn wait_instance(&self, id: &str, operation: &str, timeout: Duration) -> Reply {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.last_operation(id, Some(operation)).await.expect(200);
            if r.body["state"] != "in progress" || tokio::time::Instant::now() > deadline {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls a binding's `last_operation` until it leaves `in progress`.
    pub async fn wait_binding(&self, id: &str, bid: &str, operation: &str, timeout: Duration) -> Reply {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self
                .get(&format!(
                    "/v2/service_instances/{}/service_bindings/{}/last_operation?operation={}",
                    encode(id),
                    encode(bid),
                    operation
                ))
                .await
                .expect(200);
            if r.body["state"] != "in progress" || tokio::time::Instant::now() > deadline {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Percent-encodes a path segment (hostile ids must reach the broker intact).
pub fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
