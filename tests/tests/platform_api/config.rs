//! Config vars and releases: one release per change, rollbacks, encryption at rest.

use super::*;

#[tokio::test]
async fn config_var_changes_make_exactly_one_release_each_and_roll_back() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let path = format!("/apps/{name}/config-vars");
    let r = api.patch(&path, json!({ "FOO": "1", "BAR": "2" })).await.expect(200);
    assert_eq!(r.body, json!({ "FOO": "1", "BAR": "2" }));
    api.patch(&path, json!({ "FOO": "1" })).await.expect(200);
    api.patch(&path, json!({ "NOPE": null })).await.expect(200);
    api.patch(&path, json!({ "FOO": null })).await.expect(200);
    for bad in [
        json!({ "1BAD": "x" }),
        json!({ "A-B": "x" }),
        json!({ "A": 5 }),
        json!({ "A": true }),
        json!([1]),
    ] {
        assert_eq!(api.patch(&path, bad.clone()).await.status, 400, "{bad}");
    }
    // v2 has no code (no build yet): rolling back to it is refused and writes nothing; rollbacks
    // that restore code and config are in the dyno suite (`dynos::releases`).
    let r = api
        .post(&format!("/apps/{name}/releases"), json!({ "release": 2 }))
        .await
        .expect(422);
    assert!(r.message().starts_with("release v2 has no code"), "{:?}", r.body);
    assert_eq!(api.releases(&name).await.len(), 3);
    let r = api.patch(&path, json!({ "FOO": "1" })).await.expect(200);
    assert_eq!(r.body, json!({ "FOO": "1", "BAR": "2" }));
    let releases = api.releases(&name).await;
    let described: Vec<(i64, &str)> = releases
        .iter()
        .map(|r| (r["version"].as_i64().unwrap(), r["description"].as_str().unwrap()))
        .collect();
    assert_eq!(
        described,
        [
            (1, "Initial release"),
            (2, "Set BAR, FOO config vars"),
            (3, "Unset FOO config vars"),
            (4, "Set FOO config vars")
        ]
    );
    assert_eq!(releases.iter().filter(|r| r["current"] == true).count(), 1);
    assert_eq!(releases[3]["current"], true);
    assert_eq!(
        api.config(&name).await,
        json!({ "FOO": "1", "BAR": "2" }).as_object().unwrap().clone()
    );
    let v2 = api.get(&format!("/apps/{name}/releases/2")).await.expect(200);
    assert_eq!(v2.body["config_vars"]["FOO"], "1");
    let by_id = api
        .get(&format!("/apps/{name}/releases/{}", v2.body["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(by_id.body["version"], 2);
    // To someone without access the app does not exist; a collaborator sees the values, and
    // so does an admin.
    let bob = app.api("bob", Scope::Platform);
    bob.get(&format!("/apps/{name}/releases/2")).await.expect(404);
    api.post(&format!("/apps/{name}/collaborators"), json!({ "user": "bob" }))
        .await
        .expect(201);
    let seen = bob.get(&format!("/apps/{name}/releases/2")).await.expect(200);
    assert_eq!(seen.body["config_vars"], json!({ "FOO": "1", "BAR": "2" }));
    let admin = app
        .api("root", Scope::Admin)
        .get(&format!("/apps/{name}/releases/2"))
        .await
        .expect(200);
    assert_eq!(admin.body["config_vars"]["BAR"], "2");
    api.get(&format!("/apps/{name}/releases/99")).await.expect(404);
    // Paging by version is numeric.
    let page = api
        .send(
            api.request(reqwest::Method::GET, &format!("/apps/{name}/releases"))
                .header("Range", "version 2..; max=2"),
        )
        .await
        .expect(206);
    let versions: Vec<i64> = page
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 3]);
    let next = page.headers["next-range"].to_str().unwrap().to_string();
    let rest = api
        .send(
            api.request(reqwest::Method::GET, &format!("/apps/{name}/releases"))
                .header("Range", &next),
        )
        .await
        .expect(200);
    assert_eq!(rest.body.as_array().unwrap().len(), 1);
    assert_eq!(rest.body[0]["version"], 4);
    // Carol, with no access, finds no such app.
    let carol = app
        .api("carol", Scope::Platform)
        .get(&format!("/apps/{name}/config-vars"))
        .await
        .expect(404);
    assert_eq!(carol.message(), format!("app {name} does not exist"));
    // The bearer scheme is case-insensitive.
    let token = app.token("alice", Scope::Platform);
    let r = addon_broker_tests::api::http_client()
        .get(format!("{}/apps/{name}/config-vars", app.url))
        .header("Authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    api.post(&format!("/apps/{name}/releases"), json!({ "release": "nope" }))
        .await
        .expect(404);
    // Every mutation was audited with who and the request id.
    let audit = app.api("root", Scope::Admin).get("/admin/audit").await.expect(200).body;
    let mine: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "alice" && e["action"] == "platform.config_vars.update")
        .collect();
    assert!(mine.len() >= 2);
    assert!(mine.iter().all(|e| e["request_id"].as_str().is_some()));
}

#[tokio::test]
async fn config_vars_are_encrypted_at_rest() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let secret = format!("s3cret-{}", uuid::Uuid::new_v4());
    api.patch(&format!("/apps/{name}/config-vars"), json!({ "API_KEY": secret }))
        .await
        .expect(200);
    api.post(&format!("/apps/{name}/addons"), json!({ "plan": "redis:shared" }))
        .await
        .expect(201);
    let redis_url = var(&api.config(&name).await, "REDIS_URL").to_string();
    let password = redis_url
        .rsplit_once('@')
        .unwrap()
        .0
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    if addon_broker_tests::StateBackend::from_env() == addon_broker_tests::StateBackend::Sqlite {
        let mut stored = Vec::new();
        for file in ["broker.sqlite", "broker.sqlite-wal"] {
            stored.extend(std::fs::read(app.dir().join(file)).unwrap_or_default());
        }
        for needle in [secret.as_str(), password.as_str()] {
            assert!(
                !stored.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "found in the state files"
            );
        }
        assert!(
            stored.windows(name.len()).any(|w| w == name.as_bytes()),
            "the search itself works"
        );
    } else {
        let db = app.state_url.rsplit('/').next().unwrap().to_string();
        let client = addon_broker_tests::pg_connect(&db).await;
        for table in ["releases", "apps", "addons", "addon_attachments", "audit_log"] {
            for row in client
                .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
                .await
                .unwrap()
            {
                let text: String = row.get(0);
                assert!(!text.contains(&secret) && !text.contains(&password), "found in {table}");
            }
        }
    }
    let log = std::fs::read_to_string(app.log_path()).unwrap();
    assert!(!log.contains(&secret) && !log.contains(&password));
}
