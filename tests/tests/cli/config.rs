//! `config`, `config:get`, `config:set`, `config:unset`: each change one release whose version
//! is printed, bad pairs refused before anything is sent, `--shell` and `--json` for scripts.

use addon_broker_tests::{unique, CliUser, TestApp};
use broker::auth::Scope;
use serde_json::json;

/// Creates an app through the CLI in the user's directory (so `.broker-app` names it).
pub(super) async fn create_app(user: &CliUser, prefix: &str) -> String {
    let name: String = unique(prefix).chars().take(20).collect();
    user.run(&["apps:create", &name]).await.ok();
    name
}

#[tokio::test]
async fn config_vars_are_set_shown_and_unset_one_release_at_a_time() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let api = app.api("alice", Scope::Platform);
    let name = create_app(&alice, "cfg").await;
    let empty = alice.run(&["config"]).await;
    assert!(empty.ok().contains("no config vars"), "{}", empty.stdout);

    let set = alice.run(&["config:set", "A=1", "B=two words", "C=x=y"]).await;
    set.ok();
    assert!(
        set.stderr
            .contains(&format!("Setting A, B, C and restarting {name}… done, v2")),
        "{}",
        set.stderr
    );
    assert_eq!(api.releases(&name).await.len(), 2, "one release for three vars");
    assert_eq!(
        alice.run(&["config", "--json"]).await.json(),
        json!({"A": "1", "B": "two words", "C": "x=y"})
    );
    let table = alice.run(&["config"]).await;
    assert!(
        table.ok().contains(&format!("=== {name} Config Vars")),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("B:") && l.ends_with("two words")),
        "{}",
        table.stdout
    );
    let shell = alice.run(&["config", "--shell"]).await;
    assert_eq!(shell.ok(), "A=1\nB='two words'\nC=x=y\n");
    assert_eq!(alice.run(&["config:get", "C"]).await.ok(), "x=y\n");
    assert_eq!(
        alice.run(&["config:get", "B", "--json"]).await.json(),
        json!({"B": "two words"})
    );
    let missing = alice.run(&["config:get", "NOPE"]).await;
    assert!(missing.fails().contains("NOPE is not set"), "{}", missing.stderr);

    // A bad pair among good ones: one line, nothing sent.
    let bad = alice.run(&["config:set", "D=4", "NOVALUE"]).await;
    assert!(bad.fails().contains("NOVALUE is not KEY=value"), "{}", bad.stderr);
    assert_eq!(api.releases(&name).await.len(), 2);
    assert!(!api.config(&name).await.contains_key("D"));

    // Setting what is already there makes no release, and says so.
    let same = alice.run(&["config:set", "A=1"]).await;
    same.ok();
    assert!(same.stderr.contains("nothing changed"), "{}", same.stderr);
    assert_eq!(api.releases(&name).await.len(), 2);

    // The plain `topic command` form, and --json printing the resulting vars.
    let unset = alice.run(&["config", "unset", "A", "B", "--json"]).await;
    assert_eq!(unset.json(), json!({"C": "x=y"}));
    assert_eq!(api.releases(&name).await.len(), 3);
    let unset = alice.run(&["config:unset", "C", "-a", &name]).await;
    unset.ok();
    assert!(unset.stderr.contains("Unsetting C and restarting"), "{}", unset.stderr);
    assert!(unset.stderr.contains("done, v4"), "{}", unset.stderr);
    assert!(api.config(&name).await.is_empty());

    // A wrong token changes nothing.
    let mut mallory = CliUser::new(&app, "alice");
    mallory.set_env("BROKER_TOKEN", "forged");
    let out = mallory.run(&["config:set", "E=5", "-a", &name]).await;
    assert!(out.fails().contains("broker login"), "{}", out.stderr);
    assert!(api.config(&name).await.is_empty());
    assert_eq!(api.releases(&name).await.len(), 4);
}
