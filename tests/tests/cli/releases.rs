//! `releases`, `releases:info`, `rollback`: the history, one release, and rolling back to the
//! previous release or a named one (and not to one without code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use addon_broker_tests::dynos::{push, sample_app, PROCFILE};
use addon_broker_tests::{CliUser, TestApp};
use serde_json::json;

#[tokio::test]
async fn releases_are_listed_shown_and_rolled_back() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let api = app.api("alice", broker::auth::Scope::Platform);
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await; // v2
    api.patch(&format!("/apps/{name}/config-vars"), json!({ "GREETING": "hi" }))
        .await
        .expect(200); // v3

    let list = alice.run(&["releases", "-a", &name]).await;
    let text = list.ok();
    assert!(
        text.starts_with(&format!("=== {name} Releases - Current: v3\n")),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('v')).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows[0].starts_with("v3") && rows[0].contains("GREETING") && rows[0].contains("(current)"),
        "{text}"
    );
    assert!(rows[1].starts_with("v2") && rows[1].contains("Deploy "), "{text}");

    let info = alice.run(&["releases:info", "v3", "-a", &name]).await;
    assert!(info.ok().starts_with("=== Release v3\n"), "{}", info.stdout);
    assert!(info.stdout.contains("GREETING"), "{}", info.stdout);
    assert!(!info.stdout.contains("hi\n"), "values are not shown: {}", info.stdout);
    let same = alice.run(&["releases:info", "2", "-a", &name, "--json"]).await.json();
    assert_eq!(same["version"], 2);
    let bad = alice.run(&["releases:info", "vx", "-a", &name]).await;
    assert!(bad.fails().contains("like v5"), "{}", bad.stderr);

    // No version: back to the release before the current one (v2), as v4.
    let back = alice.run(&["rollback", "-a", &name]).await;
    assert!(
        back.ok().contains(&format!("Rolled back {name} to v2 as v4")),
        "{}",
        back.stdout
    );
    let config = api.config(&name).await;
    assert!(!config.contains_key("GREETING"), "{config:?}");
    let again = alice.run(&["rollback", "v3", "-a", &name, "--json"]).await.json();
    assert_eq!(again["version"], 5);
    assert_eq!(api.config(&name).await["GREETING"], "hi");
    // v1 has no code: refused in one line, nothing written.
    let refused = alice.run(&["rollback", "v1", "-a", &name]).await;
    refused.fails();
    let all = api.get(&format!("/apps/{name}/releases")).await.expect(200).body;
    assert_eq!(all.as_array().unwrap().len(), 5, "{all}");
}
