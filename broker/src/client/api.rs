//! The platform API as the client sees it: JSON over HTTP with the login's bearer token, and
//! the API's `{id, message}` errors turned into one line that says what to do.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::error::{CliError, CliResult};
use super::login::{self, Login};

/// A client of one broker.
#[derive(Debug, Clone)]
pub struct Api {
    login: Login,
    http: reqwest::Client,
}

impl Api {
    /// A client for the current login (see [`login::current`]).
    pub fn from_login() -> CliResult<Api> {
        Api::new(login::current()?)
    }

    /// A client for `login`.
    pub fn new(login: Login) -> CliResult<Api> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("broker-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| CliError::new(format!("starting the HTTP client: {e}")))?;
        Ok(Api { login, http })
    }

    /// The broker's base URL.
    pub fn url(&self) -> &str {
        &self.login.url
    }

    /// The bearer token (for WebSocket handshakes and `auth:token`).
    pub fn token(&self) -> &str {
        &self.login.token
    }

    /// A request to `path` (`/apps/x`) with the token; for bodies other than JSON.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.login.url))
            .bearer_auth(&self.login.token)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Sends `request`; a non-2xx answer becomes the API's message as a [`CliError`].
    pub async fn send(&self, request: RequestBuilder) -> CliResult<Response> {
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(api_error(response).await)
    }

    /// Sends `request` and reads a JSON answer (`null` for an empty body).
    pub async fn json(&self, request: RequestBuilder) -> CliResult<Value> {
        let response = self.send(request).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CliError::new(format!("reading the broker's answer: {e}")))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::new(format!("the broker answered something other than JSON: {e}")))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> CliResult<Value> {
        self.json(self.request(Method::GET, path)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> CliResult<Value> {
        self.json(self.request(Method::POST, path).json(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> CliResult<Value> {
        self.json(self.request(Method::PATCH, path).json(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> CliResult<Value> {
        self.json(self.request(Method::PUT, path).json(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> CliResult<Value> {
        self.json(self.request(Method::DELETE, path)).await
    }

    fn unreachable(&self, e: reqwest::Error) -> CliError {
        let why = if e.is_connect() {
            "connection refused or host unreachable".to_string()
        } else if e.is_timeout() {
            "timed out".to_string()
        } else {
            // reqwest's own text nests its causes; the innermost one says the most.
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            cause.to_string()
        };
        CliError::new(format!(
            "cannot reach the broker at {} ({why}); is it running? (`broker dev` starts one; BROKER_URL or `broker login` point elsewhere)",
            self.login.url
        ))
    }
}

/// One line from an error answer: the API's `message`, with a hint where the status has one.
async fn api_error(response: Response) -> CliError {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("the broker answered {status}"));
    let hint = match status {
        StatusCode::UNAUTHORIZED => " (run `broker login` with a valid platform token)",
        StatusCode::FORBIDDEN if body["id"] == "forbidden" => "",
        _ => "",
    };
    CliError::new(format!("{message}{hint}"))
}

/// Percent-encodes one path segment (an app or add-on name a person typed).
pub fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
