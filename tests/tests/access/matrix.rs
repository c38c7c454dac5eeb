//! The access matrix, generated from `api-spec/openapi.json`: for every app-scoped route (one
//! naming `{app}`, and the add-on and attachment collections), a stranger's token gets the 404
//! of an app that does not exist and changes nothing; a collaborator gets through, except where
//! only the owner may act (403); a revoked token gets 401; an admin gets through and is audited.
//! A route added to the document later is in the matrix without anyone editing this file; a
//! new kind of path parameter fails it until it is given a value here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use addon_broker_tests::dynos::{push, sample_app, PROCFILE};
use addon_broker_tests::{connect_with_uri, Api, Reply, TestApp};
use broker::auth::Scope;
use reqwest::Method;
use serde_json::{json, Value};

/// Routes only the owner (or a team admin) may use; a collaborator gets 403.
const OWNER_ONLY: [(&str, &str); 4] = [
    ("PATCH", "/apps/{app}"),
    ("DELETE", "/apps/{app}"),
    ("POST", "/apps/{app}/collaborators"),
    ("DELETE", "/apps/{app}/collaborators/{collaborator}"),
];

/// `(METHOD, path template)` of every app-scoped route in the committed OpenAPI document.
fn app_scoped_routes() -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../api-spec/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut routes = Vec::new();
    for (template, ops) in doc["paths"].as_object().unwrap() {
        let scoped =
            template.contains("{app}") || template.starts_with("/addons") || template.starts_with("/addon-attachments");
        if !scoped {
            continue;
        }
        for method in ops.as_object().unwrap().keys().filter(|m| *m != "parameters") {
            routes.push((method.to_uppercase(), template.clone()));
        }
    }
    routes
}

/// What alice has: an app with a build, a Postgres add-on and its attachment, a custom domain,
/// two collaborators (carol, who takes part in the matrix, and dave).
struct Fixture {
    app: String,
    app_id: String,
    addon: String,
    addon_id: String,
    attachment: String,
    domain: String,
    build: String,
    slug: String,
    database_url: String,
}

async fn fixture(alice: &Api) -> Fixture {
    let app = alice.create_app().await;
    let built = push(alice, &app, sample_app(PROCFILE)).await;
    let addon = alice
        .post(&format!("/apps/{app}/addons"), json!({ "plan": "postgresql:shared" }))
        .await
        .expect(201)
        .body;
    let attachments = alice
        .get(&format!("/apps/{app}/addon-attachments"))
        .await
        .expect(200)
        .body;
    let domain = alice
        .post(
            &format!("/apps/{app}/domains"),
            json!({ "hostname": "www.matrix.example" }),
        )
        .await
        .expect(201)
        .body;
    for person in ["carol", "dave"] {
        alice
            .post(&format!("/apps/{app}/collaborators"), json!({ "user": person }))
            .await
            .expect(201);
    }
    let config = alice.config(&app).await;
    Fixture {
        app_id: alice.get(&format!("/apps/{app}")).await.expect(200).body["id"]
            .as_str()
            .unwrap()
            .into(),
        addon: addon["name"].as_str().unwrap().into(),
        addon_id: addon["id"].as_str().unwrap().into(),
        attachment: attachments[0]["id"].as_str().unwrap().into(),
        domain: domain["id"].as_str().unwrap().into(),
        build: built["id"].as_str().unwrap().into(),
        slug: built["slug"]["id"].as_str().unwrap().into(),
        database_url: config["DATABASE_URL"].as_str().unwrap().into(),
        app,
    }
}

/// The path with every parameter filled from the fixture.
fn fill(template: &str, f: &Fixture) -> String {
    let values = BTreeMap::from([
        ("{app}", f.app.as_str()),
        ("{addon}", f.addon.as_str()),
        ("{id}", f.attachment.as_str()),
        ("{domain}", f.domain.as_str()),
        ("{build}", f.build.as_str()),
        ("{slug}", f.slug.as_str()),
        ("{release}", "2"),
        ("{type}", "web"),
        ("{dyno}", "web.1"),
        ("{collaborator}", "dave"),
        ("{topic}", "events"),
    ]);
    let mut path = template.to_string();
    for (k, v) in &values {
        path = path.replace(k, v);
    }
    assert!(
        !path.contains('{'),
        "{template}: a path parameter the access matrix has no value for; add one to fill()"
    );
    path
}

/// A body that passes the access check and, for a collaborator, does no lasting harm.
fn body(method: &str, template: &str, f: &Fixture) -> Value {
    match (method, template) {
        ("POST", "/apps/{app}/addons") | ("PATCH", "/apps/{app}/addons/{addon}") => {
            json!({ "plan": "postgresql:no-such-plan" })
        }
        ("POST", "/addon-attachments") => json!({ "addon": f.addon, "app": f.app, "name": "MATRIX" }),
        ("PATCH", "/apps/{app}/config-vars") => json!({ "MATRIX": "1" }),
        ("PATCH", "/apps/{app}") => json!({ "name": format!("{}-x", f.app) }),
        ("POST", "/apps/{app}/collaborators") => json!({ "user": "mallory" }),
        ("POST", "/apps/{app}/domains") => json!({ "hostname": "matrix.example.com" }),
        ("POST", "/apps/{app}/releases") => json!({ "release": "2" }),
        ("PATCH", "/apps/{app}/formation") => json!({ "updates": [{ "type": "web", "quantity": 0 }] }),
        ("PATCH", "/apps/{app}/formation/{type}") => json!({ "quantity": 0 }),
        ("POST", "/apps/{app}/dynos") => json!({ "command": "true" }),
        ("PUT", _) => json!({ "partitions": 1 }),
        _ => json!({}),
    }
}

/// The request of a route with its filled path: a build gets a real source archive, an app's
/// deletion its confirmation, everything else a JSON body.
async fn call(api: &Api, method: &str, template: &str, f: &Fixture) -> Reply {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let mut path = fill(template, f);
    if (method, template) == ("DELETE", "/apps/{app}") {
        path = format!("{path}?confirm={}", f.app);
    }
    let rb = api.request(m, &path);
    let rb = if (method, template) == ("POST", "/apps/{app}/builds") {
        rb.header("content-type", "application/gzip").body(sample_app(PROCFILE))
    } else {
        rb.json(&body(method, template, f))
    };
    api.send(rb).await
}

/// The 404 a caller without access gets: the app (or attachment) does not exist.
fn hidden(r: &Reply, f: &Fixture) -> bool {
    r.status == 404
        && [
            format!("app {} does not exist", f.app),
            format!("attachment {} does not exist", f.attachment),
        ]
        .iter()
        .any(|m| r.message() == m)
}

/// Everything of alice's that a request could change, as she sees it.
async fn snapshot(alice: &Api, f: &Fixture) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/apps/{}", f.app),
        format!("/apps/{}/config-vars", f.app),
        format!("/apps/{}/releases", f.app),
        format!("/apps/{}/addons", f.app),
        format!("/apps/{}/addon-attachments", f.app),
        format!("/apps/{}/collaborators", f.app),
        format!("/apps/{}/formation", f.app),
        format!("/apps/{}/builds", f.app),
        format!("/apps/{}/domains", f.app),
        "/addons".to_string(),
    ] {
        out.push(alice.get(&path).await.expect(200).body);
    }
    out
}

#[tokio::test]
async fn every_app_scoped_route_checks_access() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let f = fixture(&alice).await;
    let routes = app_scoped_routes();
    assert!(routes.len() >= 53, "the matrix found only {} routes", routes.len());
    for (m, t) in OWNER_ONLY {
        assert!(
            routes.contains(&(m.to_string(), t.to_string())),
            "{m} {t} is gone from the spec"
        );
    }

    // A stranger: the 404 of an app that does not exist, and nothing changes.
    let mallory = app.api("mallory", Scope::Platform);
    mallory.create_app().await;
    let admin = app.api("root", Scope::Admin);
    let audit_of_app = format!("/admin/audit?target=app/{}", f.app_id);
    let audit_before = admin.get(&audit_of_app).await.expect(200).body;
    let before = snapshot(&alice, &f).await;
    for (method, template) in &routes {
        let r = call(&mallory, method, template, &f).await;
        if method == "GET" && !template.contains('{') {
            assert_eq!(r.status, 200, "{method} {template}: {}", r.body);
            let text = r.body.to_string();
            assert!(
                !text.contains(&f.app_id) && !text.contains(&f.addon_id),
                "{method} {template} shows alice's: {text}"
            );
        } else {
            assert!(hidden(&r, &f), "stranger {method} {template}: {} {}", r.status, r.body);
        }
    }
    assert_eq!(
        snapshot(&alice, &f).await,
        before,
        "a stranger's requests changed alice's app"
    );
    // The state store recorded no change to the app either.
    assert_eq!(admin.get(&audit_of_app).await.expect(200).body, audit_before);
    let db = connect_with_uri(&f.database_url)
        .await
        .expect("alice's database still works");
    db.simple_query("SELECT 1").await.unwrap();

    // A revoked token: 401 everywhere.
    let carol_token = app.token("carol", Scope::Platform);
    let carol = Api {
        token: Some(carol_token.clone()),
        ..alice.clone()
    };
    let id = carol.get("/account").await.expect(200).body["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = Api {
        token: Some(app.token("carol", Scope::Platform)),
        ..alice.clone()
    };
    let revoked_id = revoked.get("/account").await.expect(200).body["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(id, revoked_id);
    carol.delete(&format!("/account/tokens/{revoked_id}")).await.expect(200);
    for (method, template) in &routes {
        let r = call(&revoked, method, template, &f).await;
        assert_eq!(r.status, 401, "revoked {method} {template}: {}", r.body);
        assert!(r.message().contains("revoked"), "{}", r.body);
    }

    // An admin sees everything, and its use of app routes is audited.
    for (method, template) in routes.iter().filter(|(m, _)| m == "GET") {
        let r = call(&admin, method, template, &f).await;
        assert!(
            !hidden(&r, &f) && r.status != 403,
            "admin {method} {template}: {} {}",
            r.status,
            r.body
        );
    }
    let audit = admin.get("/admin/audit?action=access.admin.use").await.expect(200).body;
    let targets: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["target"].as_str())
        .collect();
    assert!(
        targets.contains(&format!("route/apps/{}", f.app).as_str()),
        "{targets:?}"
    );

    // A collaborator gets through, but for what only the owner may do; deletions come last so
    // that what they remove is not needed before.
    let mut ordered = routes.clone();
    ordered.sort_by_key(|(m, t)| (m == "DELETE", t.contains("{addon}"), t == "/apps/{app}"));
    for (method, template) in &ordered {
        let r = call(&carol, method, template, &f).await;
        let owner_only = OWNER_ONLY.contains(&(method.as_str(), template.as_str()));
        if owner_only {
            assert_eq!(r.status, 403, "collaborator {method} {template}: {}", r.body);
            assert!(r.message().contains("only the owner"), "{}", r.body);
        } else {
            assert!(
                !hidden(&r, &f) && r.status != 403 && r.status != 401,
                "collaborator {method} {template}: {} {}",
                r.status,
                r.body
            );
        }
    }
    // The owner-only requests changed nothing: the app is there, named as before, and dave is
    // still a collaborator.
    alice.get(&format!("/apps/{}", f.app)).await.expect(200);
    let collaborators = alice
        .get(&format!("/apps/{}/collaborators", f.app))
        .await
        .expect(200)
        .body;
    assert!(collaborators.to_string().contains("dave"), "{collaborators}");
}
