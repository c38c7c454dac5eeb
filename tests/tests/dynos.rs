//! The dyno runtime over HTTP with real containers (bubblewrap + cgroups) running the sample
//! app: builds, formation, restarts on new releases, crashes and backoff, one-off runs, stop
//! grace, logs, and a broker restart that adopts what runs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{ask, logs, push, sample_app, up, wait_dynos, PROCFILE};
use addon_broker_tests::{Options, TestApp};
use serde_json::{json, Value};

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

#[tokio::test]
async fn a_build_runs_web_dynos_that_scale_and_see_their_environment() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = push(&api, &name, sample_app(PROCFILE)).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    // v1 is the app's initial release; the build makes v2.
    assert_eq!(build["release"]["version"], 2);

    let formation = api.get(&format!("/apps/{name}/formation")).await.body;
    let formation = formation.as_array().unwrap();
    assert_eq!(formation.len(), 2, "{formation:?}");
    assert_eq!(formation[0]["type"], "web");
    assert_eq!(formation[0]["quantity"], 1);
    assert_eq!(formation[0]["size"], "standard-1x");
    assert_eq!(formation[1]["type"], "worker");
    assert_eq!(formation[1]["quantity"], 0);

    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    let port = list[0]["port"].as_u64().unwrap();
    let me = ask(port, "/").await.expect("web.1 answers on its port");
    assert_eq!(me["env"]["DYNO"], "web.1");
    assert_eq!(me["env"]["PORT"], port.to_string());
    assert_eq!(me["env"]["HOME"], "/app");
    assert_eq!(me["cwd"], "/app");
    assert_eq!(me["hostname"], "web.1");
    // Its own PID namespace: a low pid, and only its own handful of processes visible.
    assert!(me["pid"].as_u64().unwrap() <= 3, "{me}");
    assert!(me["visible_processes"].as_u64().unwrap() <= 4, "{me}");

    let r = api
        .patch(
            &format!("/apps/{name}/formation"),
            json!({"updates": [{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let list = wait_dynos(&api, &name, "web=2 worker=1", |l| {
        up(l, "web").len() == 2 && up(l, "worker").len() == 1
    })
    .await;
    let web = ports(&list, "web");
    assert_ne!(web["web.1"], web["web.2"]);
    for (dyno, port) in &web {
        let me = ask(*port, "/").await.expect("every web dyno answers");
        assert_eq!(me["env"]["DYNO"], *dyno);
    }
    assert!(logs(&api, &name, "dyno=worker.1")
        .await
        .contains("app[worker.1]: worker tick"));

    // Scale down: exactly one web dyno left.
    let r = api
        .patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 1}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["quantity"], 1);
    wait_dynos(&api, &name, "web=1", |l| {
        l.iter().filter(|d| d["type"] == "web").count() == 1
    })
    .await;
    let running = app.runtime_running().await;
    assert_eq!(running, 2, "web.1 and worker.1 run, nothing else");
}
