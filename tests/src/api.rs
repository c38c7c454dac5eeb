//! HTTP from the test's side: [`Reply`], what every client here returns (status, headers, body
//! as JSON), and [`Api`], the platform and admin API client (bearer token). The OSB client and
//! its accessors on [`Reply`] are in [`crate::osb`].

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A response: status, headers, and the body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON.
    pub body: Value,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }

    /// The platform API error `id`.
    pub fn error_id(&self) -> &str {
        self.body.get("id").and_then(Value::as_str).unwrap_or_default()
    }

    /// The platform API error `message`.
    pub fn message(&self) -> &str {
        self.body.get("message").and_then(Value::as_str).unwrap_or_default()
    }

    /// Sends a request and collects the reply (the request must reach the server).
    pub(crate) async fn collect(rb: reqwest::RequestBuilder) -> Reply {
        let res = rb.send().await.expect("request reached the broker");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

/// A platform API client (bearer token).
#[derive(Clone)]
pub struct Api {
    /// Base URL.
    pub url: String,
    /// Bearer token, or none.
    pub token: Option<String>,
    /// HTTP client.
    pub client: reqwest::Client,
}

impl Api {
    /// A request with the bearer token set.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, format!("{}{}", self.url, path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and collects the reply.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Reply {
        Reply::collect(rb).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::POST, path).json(&body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::PATCH, path).json(&body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Creates an app with a unique name; returns its name.
    pub async fn create_app(&self) -> String {
        let name = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.post("/apps", json!({ "name": name })).await.expect(201);
        name
    }

    /// The app's current config vars.
    pub async fn config(&self, app: &str) -> serde_json::Map<String, Value> {
        self.get(&format!("/apps/{app}/config-vars"))
            .await
            .expect(200)
            .body
            .as_object()
            .unwrap()
            .clone()
    }

    /// The app's releases, oldest first.
    pub async fn releases(&self, app: &str) -> Vec<Value> {
        self.get(&format!("/apps/{app}/releases"))
            .await
            .expect(200)
            .body
            .as_array()
            .unwrap()
            .clone()
    }
}

/// An HTTP client for talking to a broker under test.
///
/// Its pooled connections are dropped after one idle second, well inside the broker's
/// keep-alive (actix's 5 s): otherwise a request sent on a connection that sat idle for about
/// 5 s (say, while a busy machine packs a 33 MB archive) races the server's close, and a large
/// body fails with a broken pipe that no retry can fix.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("building an HTTP client")
}
