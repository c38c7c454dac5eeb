//! The dyno runtime over HTTP with real containers (bubblewrap + cgroups) running the sample
//! app: builds, formation, restarts on new releases, crashes and backoff, one-off runs, stop
//! grace, logs, and a broker restart that adopts what runs; the release phase before every
//! new release, and the release rules around it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{ask, logs, post_build, push, sample_app, scale, up, wait_dynos, PROCFILE};
use addon_broker_tests::{connect_with_uri, Options, TestApp};
use serde_json::{json, Value};

mod build_output;
mod buildpacks;
mod builds;
mod network;
mod releases;
mod replicas;
mod runs;
mod supervision;
mod uploads;

/// How many releases the app has.
async fn release_count(api: &addon_broker_tests::Api, app: &str) -> usize {
    let r = api.get(&format!("/apps/{app}/releases")).await;
    r.body.as_array().map_or(0, Vec::len)
}

/// Polls the app's logs until `needle` shows up (the collector reads output every tick).
async fn wait_log(api: &addon_broker_tests::Api, app: &str, query: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = logs(api, app, query).await;
        if log.contains(needle) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in the logs: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ports(list: &[Value], kind: &str) -> HashMap<String, u64> {
    up(list, kind)
        .into_iter()
        .map(|d| (d["name"].as_str().unwrap().to_string(), d["port"].as_u64().unwrap()))
        .collect()
}

fn ids(list: &[Value], kind: &str) -> HashMap<String, String> {
    list.iter()
        .filter(|d| d["type"] == kind)
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}
