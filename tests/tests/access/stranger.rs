//! Issue 12's report, step by step: with his own platform token, bob tries everything he
//! could do to alice's app and add-on before. Each gets the 404 of something that does not
//! exist, and nothing of alice's moves: no attachment, release, config var, plan or database.

use addon_broker_tests::{connect_with_uri, TestApp};
use broker::auth::Scope;
use serde_json::{json, Value};

#[tokio::test]
async fn bob_cannot_touch_alices_app_or_add_on() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let bob = app.api("bob", Scope::Platform);
    let hers = alice.create_app().await;
    let addon = alice
        .post(&format!("/apps/{hers}/addons"), json!({ "plan": "postgresql:shared" }))
        .await
        .expect(201)
        .body;
    let addon_name = addon["name"].as_str().unwrap().to_string();
    alice
        .patch(&format!("/apps/{hers}/config-vars"), json!({ "SECRET": "s3cret" }))
        .await
        .expect(200);
    let attachment = alice
        .get(&format!("/apps/{hers}/addon-attachments"))
        .await
        .expect(200)
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let database_url = alice.config(&hers).await["DATABASE_URL"].as_str().unwrap().to_string();
    let his = bob.create_app().await;
    let before: Vec<Value> = vec![
        alice.get(&format!("/apps/{hers}")).await.body,
        alice.get(&format!("/apps/{hers}/releases")).await.body,
        alice.get(&format!("/apps/{hers}/addons")).await.body,
        alice.get(&format!("/apps/{hers}/addon-attachments")).await.body,
    ];

    let gone = format!("app {hers} does not exist");
    let steal = bob
        .post(
            "/addon-attachments",
            json!({ "addon": addon_name, "app": his, "name": "STOLEN" }),
        )
        .await
        .expect(404);
    // Her add-on's name or id answers exactly as a name nobody uses: no oracle of existence.
    let nobody = bob
        .post(
            "/addon-attachments",
            json!({ "addon": "no-such-addon-here", "app": his }),
        )
        .await
        .expect(404);
    assert_eq!(
        steal.message(),
        nobody.message().replace("no-such-addon-here", &addon_name)
    );
    let id = addon["id"].as_str().unwrap();
    let steal_by_id = bob
        .post("/addon-attachments", json!({ "addon": id, "app": his }))
        .await
        .expect(404);
    assert_eq!(
        steal_by_id.message(),
        nobody.message().replace("no-such-addon-here", id)
    );
    for r in [
        bob.patch(&format!("/apps/{hers}/config-vars"), json!({ "SECRET": "bob" }))
            .await,
        bob.post(&format!("/apps/{hers}/releases"), json!({ "release": "1" }))
            .await,
        bob.patch(
            &format!("/apps/{hers}/addons/{addon_name}"),
            json!({ "plan": "postgresql:shared-large" }),
        )
        .await,
        bob.delete(&format!("/apps/{hers}/addons/{addon_name}")).await,
        bob.patch(&format!("/apps/{hers}"), json!({ "name": "bobs-now" })).await,
        bob.delete(&format!("/apps/{hers}?confirm={hers}")).await,
        bob.get(&format!("/apps/{hers}/config-vars")).await,
        bob.get(&format!("/apps/{hers}/formation")).await,
        bob.get(&format!("/apps/{hers}/dynos")).await,
    ] {
        assert_eq!((r.status.as_u16(), r.message()), (404, gone.as_str()), "{}", r.body);
    }
    // Naming her add-on under his own app does not tell him it exists elsewhere.
    let named = bob.get(&format!("/apps/{his}/addons/{addon_name}")).await.expect(404);
    assert!(!named.message().contains("not attached"), "{}", named.body);
    assert!(named.message().contains("does not exist"), "{}", named.body);
    let detach = bob
        .delete(&format!("/addon-attachments/{attachment}"))
        .await
        .expect(404);
    assert_eq!(detach.message(), format!("attachment {attachment} does not exist"));

    // Bob's lists show only what is his.
    let apps = bob.get("/apps").await.expect(200).body;
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [his.as_str()]);
    assert_eq!(bob.get("/addons").await.expect(200).body, json!([]));
    assert_eq!(bob.get("/addon-attachments").await.expect(200).body, json!([]));
    let hers_listed = alice.get("/addon-attachments").await.expect(200).body;
    assert_eq!(hers_listed[0]["id"], attachment.as_str());

    // Nothing of alice's moved, and her database still answers with her credentials.
    let after: Vec<Value> = vec![
        alice.get(&format!("/apps/{hers}")).await.body,
        alice.get(&format!("/apps/{hers}/releases")).await.body,
        alice.get(&format!("/apps/{hers}/addons")).await.body,
        alice.get(&format!("/apps/{hers}/addon-attachments")).await.body,
    ];
    assert_eq!(after, before);
    assert_eq!(alice.config(&hers).await["SECRET"], "s3cret");
    assert!(bob.config(&his).await.keys().all(|k| !k.starts_with("STOLEN")));
    let db = connect_with_uri(&database_url)
        .await
        .expect("alice's database is intact");
    db.simple_query("CREATE TABLE still_mine (x int)").await.unwrap();
}
