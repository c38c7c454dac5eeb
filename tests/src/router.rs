//! Helpers of the router tests and benchmarks: an app of `sample-dyno http` web dynos, requests
//! through the router with a `Host` header, and the router's lines of an app's log.

use std::time::{Duration, Instant};

use crate::api::Api;
use crate::dynos::{archive, logs, push, sample_binary, scale, up, wait_dynos};

/// The Procfile of the router's app: the keep-alive HTTP server of `sample-dyno`.
pub const HTTP_PROCFILE: &str = "web: ./sample-dyno http\n";

/// Creates an app, deploys `sample-dyno http` and waits for `web` web dynos to be up; returns
/// the app's name.
pub async fn http_app(api: &Api, web: i64) -> String {
    let name = api.create_app().await;
    let binary = std::fs::read(sample_binary()).expect("sample-dyno is built with the tests");
    let slug = archive(&[
        ("Procfile", HTTP_PROCFILE.as_bytes(), 0o644),
        ("sample-dyno", &binary, 0o755),
    ]);
    push(api, &name, slug).await;
    if web != 1 {
        scale(api, &name, serde_json::json!([{ "type": "web", "quantity": web }])).await;
    }
    wait_dynos(api, &name, "web dynos up", |l| up(l, "web").len() == web as usize).await;
    name
}

/// A client of the router at `base` (`http://127.0.0.1:PORT`) that names apps in `Host`.
#[derive(Clone)]
pub struct Router {
    /// The router's listener.
    pub base: String,
    /// Keep-alive client.
    pub client: reqwest::Client,
}

impl Router {
    /// A client of the router at `base`.
    pub fn new(base: &str) -> Router {
        Router {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// The router's port.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A request for `path` of the app at `host` (`myapp.localhost`).
    pub fn request(&self, method: reqwest::Method, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("host", format!("{host}:{}", self.port()))
    }

    /// `GET path` of the app at `host`: the status and body.
    pub async fn get(&self, host: &str, path: &str) -> (u16, String) {
        let r = self.request(reqwest::Method::GET, host, path).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// The router's lines of the app's log.
pub async fn router_lines(api: &Api, app: &str) -> Vec<String> {
    logs(api, app, "source=heroku&dyno=router")
        .await
        .lines()
        .map(str::to_string)
        .collect()
}

/// Polls the app's router lines until one satisfies `wanted` (30 s at most); returns it.
pub async fn wait_line(api: &Api, app: &str, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = router_lines(api, app).await;
        if let Some(l) = lines.iter().find(|l| wanted(l)) {
            return l.clone();
        }
        assert!(Instant::now() < deadline, "no router line {what}: {lines:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
