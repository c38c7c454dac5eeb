//! Revocable tokens: every token is recorded, listed to its owner, and refused from the next
//! request on once revoked, on every replica sharing the state store.

use addon_broker_tests::{Api, Options, StateBackend, TestApp};
use broker::auth::Scope;
use serde_json::json;

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_on_every_replica() {
    let first = TestApp::spawn_with(Options {
        state: StateBackend::Postgres,
        runtime_backend: "none",
        ..Options::default()
    })
    .await;
    let second = first.replica();
    let alice = first.api("alice", Scope::Platform);
    // A person makes a token of their own; it is shown once and listed after.
    let made = alice
        .post("/account/tokens", json!({ "description": "ci", "expires_in": 600 }))
        .await
        .expect(201)
        .body;
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["id"].as_str().unwrap().to_string();
    let on_first = Api {
        token: Some(token.clone()),
        ..alice.clone()
    };
    let on_second = Api {
        url: second.url.clone(),
        ..on_first.clone()
    };
    on_first.get("/apps").await.expect(200);
    on_second.get("/apps").await.expect(200);
    let listed = alice.get("/account/tokens").await.expect(200).body;
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!((mine["description"].as_str(), mine.get("token")), (Some("ci"), None));

    on_first.delete(&format!("/account/tokens/{id}")).await.expect(200);
    for api in [&on_second, &on_first] {
        let r = api.get("/apps").await.expect(401);
        assert!(r.message().contains("revoked"), "{}", r.body);
    }
    let shown = alice.get(&format!("/account/tokens/{id}")).await.expect(200).body;
    assert!(shown["revoked_at"].is_string(), "{shown}");

    // Nobody else sees or revokes alice's tokens; an admin does, on either replica.
    let bob = second.api("bob", Scope::Platform);
    let alices = alice.get("/account").await.expect(200).body["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    bob.get(&format!("/account/tokens/{alices}")).await.expect(404);
    bob.delete(&format!("/account/tokens/{alices}")).await.expect(404);
    bob.get("/admin/tokens").await.expect(403);
    alice.get("/apps").await.expect(200);
    let admin = second.api("root", Scope::Admin);
    let hers = admin.get("/admin/tokens?user=alice").await.expect(200).body;
    assert!(hers.as_array().unwrap().iter().all(|t| t["user"]["id"] == "alice"));
    admin.delete(&format!("/admin/tokens/{alices}")).await.expect(200);
    assert!(alice.get("/apps").await.expect(401).message().contains("revoked"));

    // An operator hands out a token to someone new; it works on the other replica.
    let given = admin
        .post("/admin/tokens", json!({ "user": "erin", "description": "welcome" }))
        .await
        .expect(201)
        .body;
    let erin = Api {
        token: given["token"].as_str().map(str::to_string),
        ..on_first.clone()
    };
    assert_eq!(erin.get("/account").await.expect(200).body["id"], "erin");
    admin
        .post("/admin/tokens", json!({ "user": "x;drop" }))
        .await
        .expect(400);
    bob.post("/admin/tokens", json!({ "user": "bob" })).await.expect(403);

    // A platform token cannot make itself an admin token, nor a token for ever.
    bob.post("/account/tokens", json!({ "scope": "admin" }))
        .await
        .expect(403);
    bob.post("/account/tokens", json!({ "expires_in": 0 }))
        .await
        .expect(400);
    bob.post("/account/tokens", json!({ "scope": "root" }))
        .await
        .expect(400);
}

#[tokio::test]
async fn a_token_the_broker_never_recorded_is_refused() {
    let app = TestApp::spawn_with(Options {
        runtime_backend: "none",
        ..Options::default()
    })
    .await;
    // Signed with the broker's own key, but never recorded: someone who only has the key
    // cannot mint access the store does not know of.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let forged = broker::auth::TokenKeys::from_secret(addon_broker_tests::JWT_SECRET.as_bytes())
        .unwrap()
        .mint("made-up-id", "alice", Scope::Admin, now, now + 60)
        .unwrap();
    let api = Api {
        token: Some(forged),
        ..app.platform()
    };
    let r = api.get("/apps").await.expect(401);
    assert!(r.message().contains("not known"), "{}", r.body);
}
