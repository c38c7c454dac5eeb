//! `addons*`: add-ons created, listed, shown, attached to a second app, detached and destroyed
//! through the CLI, the credentials they hand out used by real clients, and an asynchronous
//! provision waited for.

use addon_broker_tests::{connect_with_uri, redis_works, CliUser, Options, TestApp};
use broker::auth::Scope;

use super::config::create_app;

/// The value of a config var, through the CLI.
async fn var(user: &CliUser, key: &str, app: &str) -> String {
    user.run(&["config:get", key, "-a", app]).await.ok().trim().to_string()
}

#[tokio::test]
async fn addons_are_created_listed_shown_and_destroyed_with_working_credentials() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let name = create_app(&alice, "ado").await;
    let none = alice.run(&["addons"]).await;
    assert!(none.ok().contains(&format!("No add-ons on {name}")), "{}", none.stdout);

    // PostgreSQL: the sentence names the add-on, its attachment, its var and the release.
    let created = alice.run(&["addons:create", "postgresql"]).await;
    let line = created.ok().trim().to_string();
    assert!(line.starts_with("Created postgresql-"), "{line}");
    assert!(line.ends_with(" as DATABASE; DATABASE_URL set (v2)"), "{line}");
    let pg = line["Created ".len()..].split(' ').next().unwrap().to_string();
    let db = connect_with_uri(&var(&alice, "DATABASE_URL", &name).await)
        .await
        .unwrap();
    db.batch_execute("SELECT 1").await.unwrap();

    // Redis under another attachment name, with --json.
    let redis = alice
        .run(&["addons:create", "redis:shared", "--as", "CACHE", "--json"])
        .await
        .json();
    assert_eq!(redis["state"], "provisioned");
    assert_eq!(redis["config_vars"], serde_json::json!(["CACHE_PREFIX", "CACHE_URL"]));
    let redis_name = redis["name"].as_str().unwrap().to_string();
    redis_works(
        &var(&alice, "CACHE_URL", &name).await,
        &var(&alice, "CACHE_PREFIX", &name).await,
    )
    .await
    .unwrap();

    let listed = alice.run(&["addons"]).await;
    let row = listed
        .ok()
        .lines()
        .find(|l| l.starts_with(&pg))
        .unwrap_or_default()
        .to_string();
    for cell in ["postgresql:shared", "provisioned", "DATABASE", name.as_str()] {
        assert!(row.contains(cell), "{cell} in {}", listed.stdout);
    }
    let json = alice.run(&["addons", "--json"]).await.json();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let info = alice.run(&["addons:info", "DATABASE"]).await;
    assert!(info.ok().contains(&format!("=== {pg}")), "{}", info.stdout);
    assert!(info.stdout.contains(&format!("{name}::DATABASE")), "{}", info.stdout);
    let info = alice.run(&["addons:info", &pg, "--json"]).await.json();
    assert_eq!(info["addon"]["config_vars"], serde_json::json!(["DATABASE_URL"]));

    // The catalog.
    let services = alice.run(&["addons:services"]).await;
    for s in ["postgresql", "redis", "kafka"] {
        assert!(services.ok().lines().any(|l| l.starts_with(s)), "{}", services.stdout);
    }
    let plans = alice.run(&["addons:plans", "redis"]).await;
    assert!(
        plans
            .ok()
            .lines()
            .any(|l| l.starts_with("redis:shared ") && l.contains("default")),
        "{}",
        plans.stdout
    );
    let unknown = alice.run(&["addons:plans", "redsi"]).await;
    assert!(unknown.fails().contains("no service"), "{}", unknown.stderr);
    let bad_plan = alice.run(&["addons:create", "redis:huge"]).await;
    assert!(bad_plan.fails().contains("plans: redis:shared"), "{}", bad_plan.stderr);

    // Destroying asks for the owning app's name, then says what went.
    let refused = alice.run(&["addons:destroy", "CACHE"]).await;
    assert!(
        refused.fails().contains(&format!("--confirm {name}")),
        "{}",
        refused.stderr
    );
    assert!(alice.run(&["config:get", "CACHE_URL"]).await.code == 0);
    let destroyed = alice.run(&["addons:destroy", "CACHE", "--confirm", &name]).await;
    assert_eq!(
        destroyed.ok().trim(),
        format!("Destroyed {redis_name}; CACHE_PREFIX and CACHE_URL unset (v4)")
    );
    let api = app.api("alice", Scope::Platform);
    assert!(!api.config(&name).await.contains_key("CACHE_URL"));
    assert_eq!(
        alice.run(&["addons", "--json"]).await.json().as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_addon_attached_to_a_second_app_has_credentials_of_its_own_until_detached() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let name = create_app(&alice, "att").await;
    let created = alice.run(&["addons:create", "postgresql", "--json"]).await.json();
    let pg = created["name"].as_str().unwrap_or_default().to_string();
    let db = connect_with_uri(&var(&alice, "DATABASE_URL", &name).await)
        .await
        .unwrap();
    db.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();

    // Attached to a second app with credentials of its own; detaching revokes them.
    let other: String = addon_broker_tests::unique("ado2").chars().take(20).collect();
    alice.run(&["apps:create", &other, "--no-remote"]).await.ok();
    let attached = alice
        .run(&["addons:attach", &pg, "-a", &other, "--as", "SHARED_DB"])
        .await;
    assert_eq!(
        attached.ok().trim(),
        format!("Attached {pg} to {other} as SHARED_DB; SHARED_DB_URL set (v2)")
    );
    let shared_url = var(&alice, "SHARED_DB_URL", &other).await;
    let shared = connect_with_uri(&shared_url).await.unwrap();
    let rows = shared.query("SELECT x FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i32>(0), 1, "the same database, other credentials");
    drop(shared);
    // Without an app, every visible add-on, attachments named with their app.
    let elsewhere = CliUser::new(&app, "alice");
    let all = elsewhere.run(&["addons"]).await;
    assert!(all.ok().contains(&format!("{other}::SHARED_DB")), "{}", all.stdout);
    let info = elsewhere.run(&["addons:info", &pg, "--json"]).await.json();
    assert_eq!(info["addon"]["app"]["name"], name.as_str(), "found by name with no app");
    assert_eq!(info["attachments"].as_array().map(Vec::len), Some(2));
    let unknown = elsewhere.run(&["addons:info", "DATABASE"]).await;
    assert!(unknown.fails().contains("pass --app"), "{}", unknown.stderr);
    let wrong = alice.run(&["addons:detach", "NOPE", "-a", &other]).await;
    assert!(wrong.fails().contains("its attachments: SHARED_DB"), "{}", wrong.stderr);
    let detached = alice.run(&["addons:detach", "SHARED_DB", "-a", &other]).await;
    assert_eq!(
        detached.ok().trim(),
        format!("Detached SHARED_DB ({pg}) from {other}; SHARED_DB_URL unset (v3)")
    );
    assert!(
        connect_with_uri(&shared_url).await.is_err(),
        "detached credentials stop working"
    );
}

#[tokio::test]
async fn an_asynchronous_provision_is_waited_for_until_the_vars_are_set() {
    // The broker answers 202 at once and provisions in the background.
    let app = TestApp::spawn_with(Options {
        create_wait_ms: 0,
        ..Options::default()
    })
    .await;
    let alice = CliUser::new(&app, "alice");
    let name = create_app(&alice, "asy").await;
    // This broker does answer 202 (so the CLI below had to wait).
    let api = app.api("alice", Scope::Platform);
    let other: String = addon_broker_tests::unique("asy2").chars().take(20).collect();
    api.post("/apps", serde_json::json!({ "name": other }))
        .await
        .expect(201);
    // A provision may still finish within the broker's zero wait on an idle machine: it is
    // the broker's 202 path that must exist, so ask until one answers 202.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = api
            .post(&format!("/apps/{other}/addons"), serde_json::json!({ "plan": "redis" }))
            .await;
        statuses.push(r.status);
        if r.status == 202 {
            break;
        }
    }
    assert_eq!(
        statuses.last().map(|s| s.as_u16()),
        Some(202),
        "this broker answers 202: {statuses:?}"
    );
    let created = alice.run(&["addons:create", "postgresql", "--json"]).await.json();
    assert_eq!(created["state"], "provisioned");
    assert_eq!(created["config_vars"], serde_json::json!(["DATABASE_URL"]));
    let url = alice.run(&["config:get", "DATABASE_URL"]).await.ok().trim().to_string();
    connect_with_uri(&url)
        .await
        .unwrap()
        .batch_execute("SELECT 1")
        .await
        .unwrap();
    let listed = alice.run(&["addons", "-a", &name]).await;
    assert!(listed.ok().contains("provisioned"), "{}", listed.stdout);
}
