//! `ps`, `ps:scale`, `ps:restart`, `ps:stop`, `ps:type`: the dynos grouped by type, scaling,
//! restarts and stops that the runtime carries out, sizes shown and changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use addon_broker_tests::dynos::{push, sample_app, up, wait_dynos, PROCFILE};
use addon_broker_tests::{CliUser, TestApp};
use serde_json::Value;

/// The id of the dyno called `name` that is up, if one is.
fn up_id(list: &[Value], name: &str) -> Option<String> {
    list.iter()
        .find(|d| d["name"] == name && d["state"] == "up")
        .map(|d| d["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn ps_scale_restart_stop_and_type_drive_the_dynos() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let api = app.api("alice", broker::auth::Scope::Platform);
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;

    let scaled = alice.run(&["ps:scale", "web=2", "worker=1", "-a", &name]).await;
    assert!(scaled.ok().contains("web=2:standard-1x"), "{}", scaled.stdout);
    assert!(scaled.stdout.contains("worker=1:standard-1x"), "{}", scaled.stdout);
    let list = wait_dynos(&api, &name, "web=2 worker=1", |l| {
        up(l, "web").len() == 2 && up(l, "worker").len() == 1
    })
    .await;
    let ps = alice.run(&["ps", "-a", &name]).await;
    let text = ps.ok();
    assert!(
        text.starts_with("=== web (standard-1x): ./sample-dyno web (2)\n"),
        "{text}"
    );
    assert!(
        text.contains("\n=== worker (standard-1x): ./sample-dyno worker (1)\n"),
        "{text}"
    );
    for dyno in ["web.1", "web.2", "worker.1"] {
        let line = text.lines().find(|l| l.starts_with(&format!("{dyno}: "))).unwrap();
        assert!(
            line.starts_with(&format!("{dyno}: up 20")) && line.ends_with(" ago)"),
            "{line}"
        );
    }
    assert_eq!(
        alice
            .run(&["ps", "-a", &name, "--json"])
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Restart one dyno: web.1 comes back as a new container.
    let web1 = up_id(&list, "web.1").unwrap();
    alice.run(&["ps:restart", "web.1", "-a", &name]).await.ok();
    let list = wait_dynos(&api, &name, "a new web.1 up", |l| {
        up_id(l, "web.1").is_some_and(|id| id != web1)
    })
    .await;
    // Stop the worker: the formation brings it back.
    let worker = up_id(&list, "worker.1").unwrap();
    let stopped = alice.run(&["ps:stop", "worker.1", "-a", &name]).await;
    assert!(stopped.ok().contains("Stopping worker.1"), "{}", stopped.stdout);
    wait_dynos(&api, &name, "a new worker.1 up", |l| {
        up_id(l, "worker.1").is_some_and(|id| id != worker)
    })
    .await;
    let none = alice.run(&["ps:stop", "web.9", "-a", &name]).await;
    assert!(none.fails().contains("web.9"), "{}", none.stderr);

    // Sizes: shown with what exists, changed per type, a wrong one refused in one line.
    let sizes = alice.run(&["ps:type", "-a", &name]).await;
    assert!(sizes.ok().contains("standard-2x (1024 MiB)"), "{}", sizes.stdout);
    let resized = alice.run(&["ps:resize", "worker=standard-2x", "-a", &name]).await;
    let row = resized
        .ok()
        .lines()
        .find(|l| l.starts_with("worker"))
        .unwrap()
        .to_string();
    assert!(row.contains("standard-2x") && row.contains("1024 MiB"), "{row}");
    let formation = api.get(&format!("/apps/{name}/formation")).await.expect(200).body;
    let worker = formation
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "worker")
        .unwrap();
    assert_eq!(worker["size"], "standard-2x");
    let wrong = alice.run(&["ps:type", "web=huge", "-a", &name]).await;
    assert!(wrong.fails().contains("standard-1x"), "{}", wrong.stderr);
    let bad = alice.run(&["ps:scale", "web", "-a", &name]).await;
    assert!(bad.fails().contains("TYPE=QUANTITY"), "{}", bad.stderr);

    // Scale down through the plain `topic command` form.
    alice.run(&["ps", "scale", "web=1", "worker=0", "-a", &name]).await.ok();
    wait_dynos(&api, &name, "web=1 worker=0", |l| {
        l.iter().filter(|d| d["type"] == "web").count() == 1 && l.iter().all(|d| d["type"] != "worker")
    })
    .await;
}
