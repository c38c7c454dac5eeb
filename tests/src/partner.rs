//! A reference third-party provider: a real HTTP server speaking Heroku's partner API v3, as a
//! partner would write it. It checks basic auth and the `X-Addon-Signature` of every request
//! (with its own HMAC code, so the wire format is tested rather than shared), answers plan
//! `basic` synchronously, plan `async` with a 202 followed by signed callbacks a second later,
//! plan `never` with a 202 and no callback, plan `broken` with 500, plan `slow` after 5 s and
//! plan `bad-config` with a var outside its prefix; and it checks SSO tokens
//! (`sha1(id:salt:timestamp)`).

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Digest;
use sha2::Sha256;

/// What the provider saw and holds.
#[derive(Debug, Default)]
pub struct Seen {
    /// `METHOD path` of every request that passed authentication.
    pub requests: Vec<(String, String, Value)>,
    /// Requests refused for bad auth or signature.
    pub refused: Vec<String>,
    /// Live resources: uuid → config.
    pub resources: BTreeMap<String, BTreeMap<String, String>>,
    /// Uuids deleted.
    pub deleted: Vec<String>,
    /// Callback URL of each async resource (their deprovision is asynchronous too).
    async_callbacks: BTreeMap<String, String>,
    signatures: HashSet<String>,
}

/// A running reference provider.
pub struct ReferenceProvider {
    /// Its id (the manifest's and the basic auth user).
    pub id: String,
    /// Its password (basic auth and HMAC key).
    pub password: String,
    /// SSO salt.
    pub salt: String,
    /// Config var prefix.
    pub prefix: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What it saw.
    pub seen: Arc<Mutex<Seen>>,
    client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for ReferenceProvider {
    fn drop(&mut self) {
        // Stopping is asynchronous; the server thread ends on its own once told.
        let handle = self.handle.clone();
        std::thread::spawn(move || futures::executor::block_on(handle.stop(false)));
    }
}

type HmacSha256 = Hmac<Sha256>;

/// `t=<t>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`.
pub fn signature(key: &str, t: i64, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The config the provider gives a resource.
fn config_of(id: &str, prefix: &str, uuid: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (format!("{prefix}_URL"), format!("https://{id}.example/r/{uuid}")),
        (format!("{prefix}_TOKEN"), format!("token-{uuid}")),
    ])
}

struct Shared {
    id: String,
    password: String,
    salt: String,
    prefix: String,
    seen: Arc<Mutex<Seen>>,
    client: reqwest::Client,
}

impl Shared {
    /// Checks basic auth and the signature (5-minute window, each signature once).
    fn check(&self, req: &HttpRequest, body: &[u8]) -> Result<(), String> {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.id, self.password))
        );
        let auth = req.headers().get("authorization").and_then(|h| h.to_str().ok());
        if auth != Some(want.as_str()) {
            return Err("bad basic auth".into());
        }
        let header = req
            .headers()
            .get("x-addon-signature")
            .and_then(|h| h.to_str().ok())
            .ok_or("no signature")?;
        let t: i64 = header
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .and_then(|t| t.parse().ok())
            .ok_or("no timestamp")?;
        if (now() - t).abs() > 300 {
            return Err("stale".into());
        }
        if signature(&self.password, t, body) != header {
            return Err("signature mismatch".into());
        }
        if !self.seen.lock().unwrap().signatures.insert(header.to_string()) {
            return Err("replayed".into());
        }
        Ok(())
    }

    fn config_for(&self, uuid: &str) -> BTreeMap<String, String> {
        config_of(&self.id, &self.prefix, uuid)
    }

    /// Sends a signed callback to the broker.
    async fn call_back(&self, method: reqwest::Method, url: &str, body: &Value) -> (u16, Value) {
        // A nonce makes every body, and so every signature, unique: the broker accepts each
        // signature once, and it covers the body only.
        let mut body = body.clone();
        body["nonce"] = json!(uuid::Uuid::new_v4().to_string());
        let bytes = serde_json::to_vec(&body).unwrap();
        let r = self
            .client
            .request(method, url)
            .basic_auth(&self.id, Some(&self.password))
            .header("x-addon-signature", signature(&self.password, now(), &bytes))
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn provision(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if let Err(why) = shared.check(&req, &body) {
        shared.seen.lock().unwrap().refused.push(why.clone());
        return HttpResponse::Unauthorized().json(json!({ "message": why }));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared
        .seen
        .lock()
        .unwrap()
        .requests
        .push(("POST".into(), req.path().to_string(), v.clone()));
    let uuid = v["uuid"].as_str().unwrap_or_default().to_string();
    let plan = v["plan"].as_str().unwrap_or_default().to_string();
    let callback = v["callback_url"].as_str().unwrap_or_default().to_string();
    for field in ["uuid", "plan", "callback_url", "name", "region"] {
        if v.get(field).is_none() {
            return HttpResponse::UnprocessableEntity().json(json!({ "message": format!("{field} is missing") }));
        }
    }
    match plan.as_str() {
        "basic" => {
            let config = shared.config_for(&uuid);
            // Idempotent by uuid: a repeat gets the same resource.
            shared
                .seen
                .lock()
                .unwrap()
                .resources
                .insert(uuid.clone(), config.clone());
            HttpResponse::Ok().json(json!({ "id": format!("res-{uuid}"), "config": config, "message": "ready" }))
        }
        "async" => {
            shared
                .seen
                .lock()
                .unwrap()
                .async_callbacks
                .insert(uuid.clone(), callback.clone());
            let shared = shared.clone();
            let answer = json!({ "id": format!("res-{uuid}"), "message": "provisioning" });
            actix_web::rt::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1000)).await;
                let config = shared.config_for(&uuid);
                shared
                    .seen
                    .lock()
                    .unwrap()
                    .resources
                    .insert(uuid.clone(), config.clone());
                let list: Vec<Value> = config.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
                // Bodies name the add-on: a signature covers the body only, and the broker
                // accepts each signature once.
                let (s1, b1) = shared
                    .call_back(
                        reqwest::Method::PATCH,
                        &format!("{callback}/config"),
                        &json!({ "uuid": uuid, "config": list }),
                    )
                    .await;
                let (s2, b2) = shared
                    .call_back(
                        reqwest::Method::POST,
                        &format!("{callback}/actions/provision"),
                        &json!({ "uuid": uuid }),
                    )
                    .await;
                assert_eq!((s1, s2), (200, 200), "callbacks: {b1} {b2}");
            });
            HttpResponse::Accepted().json(answer)
        }
        "never" => HttpResponse::Accepted().json(json!({ "id": format!("res-{uuid}") })),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            HttpResponse::Ok().json(json!({ "config": shared.config_for(&uuid) }))
        }
        "bad-config" => HttpResponse::Ok().json(json!({ "config": { "OTHER_URL": "x" } })),
        _ => HttpResponse::InternalServerError().json(json!({ "message": "boom" })),
    }
}

async fn change(
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    if let Err(why) = shared.check(&req, &body) {
        shared.seen.lock().unwrap().refused.push(why.clone());
        return HttpResponse::Unauthorized().json(json!({ "message": why }));
    }
    let uuid = path.into_inner();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut seen = shared.seen.lock().unwrap();
    seen.requests
        .push((req.method().to_string(), req.path().to_string(), v.clone()));
    if req.method() == actix_web::http::Method::DELETE {
        seen.resources.remove(&uuid);
        seen.deleted.push(uuid.clone());
        if let Some(callback) = seen.async_callbacks.remove(&uuid) {
            // An async resource is torn down in the background, then reported.
            drop(seen);
            let shared = shared.clone();
            actix_web::rt::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let (status, body) = shared
                    .call_back(
                        reqwest::Method::POST,
                        &format!("{callback}/actions/deprovision"),
                        &json!({ "uuid": uuid }),
                    )
                    .await;
                assert_eq!(status, 200, "deprovision callback: {body}");
            });
            return HttpResponse::Accepted().json(json!({ "message": "deprovisioning" }));
        }
        return HttpResponse::NoContent().finish();
    }
    HttpResponse::Ok().json(json!({ "message": format!("now on {}", v["plan"]) }))
}

async fn sso(query: web::Query<BTreeMap<String, String>>, shared: web::Data<Shared>) -> HttpResponse {
    let (Some(id), Some(token), Some(ts)) = (query.get("id"), query.get("token"), query.get("timestamp")) else {
        return HttpResponse::BadRequest().body("missing id, token or timestamp");
    };
    let want = hex::encode(sha1::Sha1::digest(format!("{id}:{}:{ts}", shared.salt).as_bytes()));
    let fresh = ts.parse::<i64>().is_ok_and(|t| (now() - t).abs() <= 300);
    if want != *token || !fresh {
        return HttpResponse::Forbidden().body("bad token");
    }
    HttpResponse::Ok().body(format!("welcome to {id}"))
}

impl ReferenceProvider {
    /// Starts a provider `id` with config var prefix `prefix`.
    pub fn start(id: &str, prefix: &str) -> ReferenceProvider {
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        let salt = format!("salt-{}", uuid::Uuid::new_v4().simple());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = web::Data::new(Shared {
            id: id.to_string(),
            password: password.clone(),
            salt: salt.clone(),
            prefix: prefix.to_string(),
            seen: seen.clone(),
            client: crate::api::http_client(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .route("/heroku/resources", web::post().to(provision))
                        .route("/heroku/resources/{uuid}", web::put().to(change))
                        .route("/heroku/resources/{uuid}", web::delete().to(change))
                        .route("/sso", web::get().to(sso))
                })
                .workers(2)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv().unwrap();
        ReferenceProvider {
            id: id.to_string(),
            password,
            salt,
            prefix: prefix.to_string(),
            url,
            seen,
            client: crate::api::http_client(),
            handle,
        }
    }

    /// Its manifest, with `requires` and the plans above.
    pub fn manifest(&self, requires: &[&str]) -> Value {
        json!({
            "id": self.id,
            "name": format!("Reference {}", self.id),
            "api": {
                "config_vars_prefix": self.prefix,
                "config_vars": [format!("{}_URL", self.prefix), format!("{}_TOKEN", self.prefix)],
                "password": self.password,
                "sso_salt": self.salt,
                "regions": ["*"],
                "requires": requires,
                "production": { "base_url": format!("{}/heroku/resources", self.url), "sso_url": format!("{}/sso", self.url) },
                "version": "3"
            },
            "plans": [
                { "id": "basic", "name": "Basic", "description": "Answers at once" },
                { "id": "async", "name": "Async", "description": "Answers 202, then calls back" },
                { "id": "never", "name": "Never", "description": "Answers 202 and never calls back" },
                { "id": "broken", "name": "Broken", "description": "Answers 500" },
                { "id": "slow", "name": "Slow", "description": "Answers after 5 s" },
                { "id": "bad-config", "name": "Bad config", "description": "Answers with a var outside its prefix" }
            ]
        })
    }

    /// Sends a signed callback to `url` (method, JSON body) as this provider.
    pub async fn callback(&self, method: reqwest::Method, url: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        let header = signature(&self.password, now(), &bytes);
        self.raw_callback(method, url, bytes, Some(header)).await
    }

    /// Sends a callback with exactly this body and signature header (for forged and replayed
    /// requests), with this provider's basic auth.
    pub async fn raw_callback(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> (u16, Value) {
        let mut rb = self
            .client
            .request(method, url)
            .basic_auth(&self.id, Some(&self.password))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = signature {
            rb = rb.header("x-addon-signature", s);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The config the provider gives `uuid`.
    pub fn config_for(&self, uuid: &str) -> BTreeMap<String, String> {
        config_of(&self.id, &self.prefix, uuid)
    }
}
