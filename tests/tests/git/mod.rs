//! `git push` deploys with real git against a real broker over HTTP: the app's remote
//! `{url}/apps/{app}.git` is served by `git http-backend`, a push of main builds and releases
//! in the pre-receive hook (and a failed build refuses the push), only the pushed tree is
//! built, access is the API's, hostile paths stay inside the repositories, and the CLI sets the
//! remote and its credentials up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{ask, wait_dynos};
use addon_broker_tests::Api;

mod access;
mod cli;
mod push;

/// A web-only Procfile whose dyno carries `MARK=<mark>` in its environment, so that a test can
/// tell which commit a dyno runs.
fn procfile(mark: &str) -> String {
    format!("web: MARK={mark} ./sample-dyno web\n")
}

/// Waits until the app's web dyno runs release `version` and is up; its port.
async fn web_on(api: &Api, app: &str, version: i64) -> u64 {
    let list = wait_dynos(api, app, &format!("web up on v{version}"), |l| {
        l.iter()
            .any(|d| d["type"] == "web" && d["state"] == "up" && d["release"]["version"] == version)
    })
    .await;
    list.iter()
        .find(|d| d["type"] == "web" && d["release"]["version"] == version)
        .and_then(|d| d["port"].as_u64())
        .unwrap()
}

/// The `MARK` of the web dyno on `port` (asked until it answers, 30 s at most).
async fn mark_of(port: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(me) = ask(port, "/").await {
            return me["env"]["MARK"].as_str().unwrap_or_default().to_string();
        }
        assert!(Instant::now() < deadline, "the web dyno on {port} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The app's current release's version.
async fn current_version(api: &Api, app: &str) -> i64 {
    let releases = api.releases(app).await;
    releases
        .iter()
        .filter(|r| r["current"] == true)
        .filter_map(|r| r["version"].as_i64())
        .max()
        .unwrap()
}
