//! `access`, `access:add`, `access:remove`: a second person sees an app only once its owner
//! adds them, and only a collaborator's rights.

use addon_broker_tests::{CliUser, TestApp};

use super::config::create_app;

#[tokio::test]
async fn bob_sees_alices_app_only_while_he_is_a_collaborator() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let bob = CliUser::new(&app, "bob");
    let name = create_app(&alice, "acc").await;

    let hidden = bob.run(&["apps:info", "-a", &name]).await;
    assert!(hidden.fails().contains("does not exist"), "{}", hidden.stderr);
    assert!(!bob.run(&["apps"]).await.ok().contains(&name));
    let refused = bob.run(&["config:set", "X=1", "-a", &name]).await;
    assert!(refused.fails().contains("does not exist"), "{}", refused.stderr);

    let added = alice.run(&["access:add", "bob"]).await;
    assert_eq!(added.ok().trim(), format!("Added bob to {name} as a collaborator"));
    let listed = alice.run(&["access"]).await;
    let lines: Vec<&str> = listed.ok().lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("alice") && l.contains("owner")),
        "{}",
        listed.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("bob") && l.contains("collaborator")),
        "{}",
        listed.stdout
    );
    let json = alice.run(&["access", "--json"]).await.json();
    assert_eq!(json["owner"], "alice");
    assert_eq!(json["collaborators"][0]["user"]["id"], "bob");
    let again = alice.run(&["access:add", "bob"]).await;
    again.fails();

    // Bob works on the app now, as a collaborator: not as its owner.
    bob.run(&["apps:info", "-a", &name]).await.ok();
    assert!(bob.run(&["apps"]).await.ok().contains(&name));
    bob.run(&["config:set", "X=1", "-a", &name]).await.ok();
    let not_owner = bob.run(&["access:add", "carol", "-a", &name]).await;
    assert!(not_owner.fails().contains("only the owner"), "{}", not_owner.stderr);

    let removed = alice.run(&["access:remove", "bob", "--json"]).await.json();
    assert_eq!(removed["user"]["id"], "bob");
    let hidden = bob.run(&["apps:info", "-a", &name]).await;
    assert!(hidden.fails().contains("does not exist"), "{}", hidden.stderr);
    let json = alice.run(&["access", "--json"]).await.json();
    assert_eq!(json["collaborators"], serde_json::json!([]));
}
