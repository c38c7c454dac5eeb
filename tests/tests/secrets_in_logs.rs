//! No credential reaches the broker's log, at any level: a broker on `RUST_LOG=trace` makes
//! PostgreSQL and Redis bindings over OSB and add-ons with config vars over the platform API,
//! and its whole log is searched for every secret it handed out or was given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use addon_broker_tests::{connect_with_uri, Options, TestApp};
use serde_json::{json, Value};

/// The password in a `scheme://user:password@host/…` URL.
fn url_password(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let userinfo = rest.split_once('@').map(|(u, _)| u).unwrap_or_default();
    let password = userinfo.split_once(':').map(|(_, p)| p).unwrap_or_default();
    assert!(password.len() >= 12, "no password in {url}");
    password.to_string()
}

#[tokio::test]
async fn a_trace_level_log_holds_no_credential() {
    let app = TestApp::spawn_with(Options {
        log_filter: "trace",
        ..Options::default()
    })
    .await;
    let mut secrets: Vec<(String, String)> = vec![("the OSB password".into(), app.password.clone())];
    // As the platform sends it: an `Authorization: Basic` header.
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", app.user, app.password),
    );
    secrets.push(("the OSB basic auth header".into(), basic));

    // OSB: a binding of each service with a password, used once so the server saw it.
    let osb = app.osb();
    for (service, plan) in [("postgresql", "shared"), ("redis", "shared")] {
        let plan = osb.plan(service, plan).await;
        let (_, creds) = osb.bound(&plan, "trace").await;
        let uri = creds["uri"].as_str().unwrap();
        if service == "postgresql" {
            connect_with_uri(uri).await.expect("the binding's credentials work");
        }
        secrets.push((format!("the {service} binding's password"), url_password(uri)));
    }

    // Platform API: add-ons whose URLs become config vars, and a secret the user sets.
    let api = app.platform();
    secrets.push(("the platform token".into(), api.token.clone().unwrap()));
    let web = api.create_app().await;
    for plan in ["postgresql:shared", "redis:shared"] {
        api.post(&format!("/apps/{web}/addons"), json!({ "plan": plan }))
            .await
            .expect(201);
    }
    let user_secret = providers::names::random_password(32);
    api.patch(
        &format!("/apps/{web}/config-vars"),
        json!({ "API_SECRET": user_secret }),
    )
    .await
    .expect(200);
    secrets.push(("a user's config var".into(), user_secret));
    let config = api.config(&web).await;
    for name in ["DATABASE_URL", "REDIS_URL"] {
        let url = config.get(name).and_then(Value::as_str).unwrap();
        secrets.push((name.into(), url_password(url)));
    }

    let log = std::fs::read_to_string(app.log_path()).unwrap();
    // The log really is at trace level, from our crates and the drivers alike.
    assert!(log.contains(" TRACE "), "the broker did not log at trace level");
    assert!(
        log.lines().count() > 200,
        "a trace run logs much more: {}",
        log.lines().count()
    );
    for (what, secret) in &secrets {
        if let Some(line) = log.lines().find(|l| l.contains(secret.as_str())) {
            panic!("{what} is in the log: {line}");
        }
    }
}
