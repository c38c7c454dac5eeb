//! Accounts, collaborators, teams and transfers: who may use an app, and who may change who.

use addon_broker_tests::TestApp;
use broker::auth::Scope;
use serde_json::json;

#[tokio::test]
async fn collaborators_use_an_app_and_only_its_owner_manages_it() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let bob = app.api("bob", Scope::Platform);
    let name = alice.create_app().await;
    let account = bob.get("/account").await.expect(200).body;
    assert_eq!(
        (account["id"].as_str(), account["scope"].as_str()),
        (Some("bob"), Some("platform"))
    );

    bob.get(&format!("/apps/{name}")).await.expect(404);
    let added = alice
        .post(&format!("/apps/{name}/collaborators"), json!({ "user": "bob" }))
        .await
        .expect(201)
        .body;
    assert_eq!(
        (added["user"]["id"].as_str(), added["role"].as_str()),
        (Some("bob"), Some("collaborator"))
    );
    alice
        .post(&format!("/apps/{name}/collaborators"), json!({ "user": "bob" }))
        .await
        .expect(409);
    let owner = alice
        .post(&format!("/apps/{name}/collaborators"), json!({ "user": "alice" }))
        .await
        .expect(422);
    assert!(owner.message().contains("owner"), "{}", owner.body);
    for hostile in ["", "a b", "x;drop table apps", "../etc", &"y".repeat(101)] {
        alice
            .post(&format!("/apps/{name}/collaborators"), json!({ "user": hostile }))
            .await
            .expect(400);
    }

    // Bob sees and configures it, but may not rename, delete or share it.
    let listed = bob.get("/apps").await.expect(200).body;
    assert_eq!(listed[0]["name"], name.as_str());
    bob.patch(&format!("/apps/{name}/config-vars"), json!({ "BY": "bob" }))
        .await
        .expect(200);
    assert_eq!(alice.config(&name).await["BY"], "bob");
    for r in [
        bob.patch(&format!("/apps/{name}"), json!({ "name": "bobs-app" })).await,
        bob.delete(&format!("/apps/{name}")).await,
        bob.post(&format!("/apps/{name}/collaborators"), json!({ "user": "carol" }))
            .await,
    ] {
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.message().contains("only the owner"), "{}", r.body);
    }

    // A transfer goes to someone with access; the old owner stays on as a collaborator.
    let refused = alice
        .patch(&format!("/apps/{name}"), json!({ "owner": "carol" }))
        .await
        .expect(422);
    assert!(refused.message().contains("collaborator first"), "{}", refused.body);
    let moved = alice
        .patch(&format!("/apps/{name}"), json!({ "owner": "bob" }))
        .await
        .expect(200)
        .body;
    assert_eq!(moved["owner"], "bob");
    alice
        .patch(&format!("/apps/{name}"), json!({ "name": "alices-again" }))
        .await
        .expect(403);
    let collaborators = bob.get(&format!("/apps/{name}/collaborators")).await.expect(200).body;
    let people: Vec<&str> = collaborators
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(people, ["alice"]);

    // A collaborator may leave by themselves; then the app is gone for them.
    alice
        .delete(&format!("/apps/{name}/collaborators/alice"))
        .await
        .expect(200);
    alice.get(&format!("/apps/{name}")).await.expect(404);
}

#[tokio::test]
async fn teams_own_apps_their_admins_manage_and_members_use() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let bob = app.api("bob", Scope::Platform);
    let carol = app.api("carol", Scope::Platform);
    let team = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let made = alice.post("/teams", json!({ "name": team })).await.expect(201).body;
    assert_eq!(made["role"], "admin");
    alice.post("/teams", json!({ "name": team })).await.expect(409);
    alice.post("/teams", json!({ "name": "Bad Name" })).await.expect(400);
    alice
        .send(
            alice
                .request(reqwest::Method::PUT, &format!("/teams/{team}/members"))
                .json(&json!({ "user": "bob" })),
        )
        .await
        .expect(200);
    let members = bob.get(&format!("/teams/{team}/members")).await.expect(200).body;
    assert_eq!(members.as_array().unwrap().len(), 2);
    carol.get(&format!("/teams/{team}")).await.expect(404);
    assert_eq!(bob.get("/account").await.expect(200).body["teams"][0]["role"], "member");

    // Apps made for the team: members use them, admins manage them, others don't see them.
    let name = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    carol
        .post("/apps", json!({ "name": name, "team": team }))
        .await
        .expect(404);
    let created = bob
        .post("/apps", json!({ "name": name, "team": team }))
        .await
        .expect(201)
        .body;
    assert_eq!(created["team"]["name"], team.as_str());
    alice
        .patch(&format!("/apps/{name}/config-vars"), json!({ "A": "1" }))
        .await
        .expect(200);
    bob.patch(&format!("/apps/{name}/config-vars"), json!({ "B": "2" }))
        .await
        .expect(200);
    carol.get(&format!("/apps/{name}")).await.expect(404);
    bob.delete(&format!("/apps/{name}")).await.expect(403);
    let last = alice
        .send(
            alice
                .request(reqwest::Method::PUT, &format!("/teams/{team}/members"))
                .json(&json!({ "user": "alice", "role": "member" })),
        )
        .await
        .expect(422);
    assert!(last.message().contains("must keep an admin"), "{}", last.body);
    alice.delete(&format!("/teams/{team}")).await.expect(409);
    bob.delete(&format!("/teams/{team}/members/alice")).await.expect(403);
    // Leaving the team takes its apps away.
    bob.delete(&format!("/teams/{team}/members/bob")).await.expect(200);
    bob.get(&format!("/apps/{name}")).await.expect(404);
    alice.delete(&format!("/apps/{name}")).await.expect(200);
    alice.delete(&format!("/teams/{team}")).await.expect(200);
    alice.get(&format!("/teams/{team}")).await.expect(404);
}

#[tokio::test]
async fn a_personal_app_moves_into_a_team() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let bob = app.api("bob", Scope::Platform);
    let team = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    alice.post("/teams", json!({ "name": team })).await.expect(201);
    let name = alice.create_app().await;
    bob.post("/teams", json!({ "name": format!("{team}-b") }))
        .await
        .expect(201);
    // Only into a team the owner belongs to.
    alice
        .patch(&format!("/apps/{name}"), json!({ "team": format!("{team}-b") }))
        .await
        .expect(404);
    let moved = alice
        .patch(&format!("/apps/{name}"), json!({ "team": team }))
        .await
        .expect(200)
        .body;
    assert_eq!(moved["team"]["name"], team.as_str());
    bob.get(&format!("/apps/{name}")).await.expect(404);
    alice
        .send(
            alice
                .request(reqwest::Method::PUT, &format!("/teams/{team}/members"))
                .json(&json!({ "user": "bob", "role": "admin" })),
        )
        .await
        .expect(200);
    // A team admin acts as the owner.
    bob.patch(&format!("/apps/{name}"), json!({ "name": format!("{name}-b") }))
        .await
        .expect(200);
    alice
        .patch(&format!("/apps/{name}-b"), json!({ "owner": "x", "team": team }))
        .await
        .expect(400);
    let nothing = alice.patch(&format!("/apps/{name}-b"), json!({})).await.expect(400);
    assert!(
        nothing.message().contains("give a new name, owner or team"),
        "{}",
        nothing.body
    );
}

#[tokio::test]
async fn an_add_on_goes_to_other_apps_only_by_its_owner_who_can_always_take_it_back() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let bob = app.api("bob", Scope::Platform);
    let hers = alice.create_app().await;
    let addon = alice
        .post(&format!("/apps/{hers}/addons"), json!({ "plan": "redis" }))
        .await
        .expect(201)
        .body;
    let name = addon["name"].as_str().unwrap().to_string();
    alice
        .post(&format!("/apps/{hers}/collaborators"), json!({ "user": "bob" }))
        .await
        .expect(201);
    let his = bob.create_app().await;
    // A collaborator may not carry the add-on's data off to an app of his own.
    let carried = bob
        .post(
            "/addon-attachments",
            json!({ "addon": name, "app": his, "name": "CARRIED" }),
        )
        .await
        .expect(403);
    assert!(carried.message().contains("only the owner"), "{}", carried.body);
    assert!(!bob.config(&his).await.contains_key("CARRIED_URL"));

    // Alice attaches it to bob's app (she collaborates there), then loses her access to it:
    // she still sees where her add-on is attached and can take it back.
    bob.post(&format!("/apps/{his}/collaborators"), json!({ "user": "alice" }))
        .await
        .expect(201);
    let shared = alice
        .post(
            "/addon-attachments",
            json!({ "addon": name, "app": his, "name": "SHARED" }),
        )
        .await
        .expect(201)
        .body;
    assert!(bob.config(&his).await.contains_key("SHARED_URL"));
    bob.delete(&format!("/apps/{his}/collaborators/alice"))
        .await
        .expect(200);
    alice.get(&format!("/apps/{his}")).await.expect(404);
    let listed = alice.get("/addon-attachments").await.expect(200).body;
    assert!(listed.to_string().contains(shared["id"].as_str().unwrap()), "{listed}");
    // Bob, with his own app only, may not open the dashboard of an add-on it merely uses.
    bob.delete(&format!("/apps/{hers}/collaborators/bob")).await.expect(200);
    let sso = bob.get(&format!("/apps/{his}/addons/SHARED/sso")).await.expect(403);
    assert!(sso.message().contains("belongs to another app"), "{}", sso.body);
    alice
        .delete(&format!("/addon-attachments/{}", shared["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert!(!bob.config(&his).await.contains_key("SHARED_URL"));
}

#[tokio::test]
async fn nul_bytes_in_names_and_ids_are_client_errors() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let name = alice.create_app().await;
    for r in [
        alice.get("/teams/a%00b").await,
        alice.delete(&format!("/apps/{name}/collaborators/a%00b")).await,
        alice.get("/account/tokens/a%00b").await,
        alice.get("/apps/a%00b").await,
        alice.post("/apps", json!({ "team": "a\0b" })).await,
        alice.patch(&format!("/apps/{name}"), json!({ "team": "a\0b" })).await,
    ] {
        assert!(r.status.is_client_error(), "{} {}", r.status, r.body);
    }
    alice.get(&format!("/apps/{name}")).await.expect(200);
}
