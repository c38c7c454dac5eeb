//! An app's domains over HTTP: custom hostnames added, listed, shown and removed with exact
//! bodies; the hostname rules with hostile input; a name on one app only; names under the
//! router's domain kept for apps' default hostnames; another tenant sees nothing and removes
//! nothing; a destroyed app's names are free again.

use addon_broker_tests::{Api, TestApp};
use broker::auth::Scope;
use serde_json::{json, Value};

/// `POST /apps/{app}/domains` with this hostname.
async fn add(api: &Api, app: &str, hostname: &str) -> addon_broker_tests::Reply {
    api.post(&format!("/apps/{app}/domains"), json!({ "hostname": hostname }))
        .await
}

/// The app's `{id, name}` as domain views name it.
async fn app_ref(api: &Api, app: &str) -> Value {
    let a = api.get(&format!("/apps/{app}")).await.expect(200).body;
    json!({ "id": a["id"], "name": a["name"] })
}

/// The view a custom domain of `app` must have, given the server's id and times.
fn custom_view(got: &Value, hostname: &str, app: &Value) -> Value {
    json!({
        "id": got["id"],
        "hostname": hostname,
        "kind": "custom",
        "cname": format!("{}.localhost", app["name"].as_str().unwrap()),
        "status": "succeeded",
        "app": app,
        "created_at": got["created_at"],
        "updated_at": got["updated_at"],
    })
}

/// The custom domains of a list (after the default hostname, which comes first).
fn custom(list: &Value) -> Value {
    let all = list.as_array().unwrap();
    assert_eq!(all[0]["kind"], "heroku", "the default hostname first: {list}");
    Value::Array(all[1..].to_vec())
}

fn hostnames(list: &Value) -> Vec<String> {
    custom(list)
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["hostname"].as_str().unwrap().to_string())
        .collect()
}

/// With the router bound, `web_url` is `http://{app}.localhost:{port}/` and the domains start
/// with the default hostname (kind `heroku`, cname null, a stable id) that cannot be removed.
#[tokio::test]
async fn web_url_and_the_default_hostname_come_from_the_router() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let port = app.router_url.rsplit(':').next().unwrap();
    let web_url = format!("http://{name}.localhost:{port}/");
    let created = api.get(&format!("/apps/{name}")).await.expect(200).body;
    assert_eq!(created["web_url"], web_url.as_str(), "{created}");
    let listed = api.get("/apps").await.expect(200).body;
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name.as_str())
        .unwrap();
    assert_eq!(mine["web_url"], web_url.as_str());
    let domains = api.get(&format!("/apps/{name}/domains")).await.expect(200).body;
    let default = format!("{name}.localhost");
    let list = domains.as_array().unwrap();
    assert_eq!(list.len(), 1, "{domains}");
    assert_eq!(list[0]["hostname"], default.as_str());
    assert_eq!(list[0]["kind"], "heroku");
    assert_eq!(list[0]["cname"], Value::Null);
    let again = api
        .get(&format!("/apps/{name}/domains/{default}"))
        .await
        .expect(200)
        .body;
    assert_eq!(again["id"], list[0]["id"], "the default hostname's id is stable");
    let r = api.delete(&format!("/apps/{name}/domains/{default}")).await.expect(422);
    assert!(r.message().contains(&default), "{}", r.message());
}

#[tokio::test]
async fn custom_domains_are_added_listed_shown_and_removed_with_exact_bodies() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let me = app_ref(&api, &name).await;

    // Stored lowercase, one trailing dot dropped.
    let www = add(&api, &name, "WWW.Example.COM.").await.expect(201).body;
    assert_eq!(www, custom_view(&www, "www.example.com", &me));
    assert!(uuid::Uuid::parse_str(www["id"].as_str().unwrap()).is_ok());
    assert!(www["created_at"].as_str().unwrap().ends_with('Z'));
    let api_host = add(&api, &name, "api.example.com").await.expect(201).body;

    // Listed by hostname.
    let list = api.get(&format!("/apps/{name}/domains")).await.expect(200).body;
    assert_eq!(custom(&list), json!([api_host, www]));

    // Shown by id, by hostname, by the hostname as typed.
    let id = www["id"].as_str().unwrap();
    for key in [id, "www.example.com", "WWW.example.com."] {
        let got = api.get(&format!("/apps/{name}/domains/{key}")).await.expect(200).body;
        assert_eq!(got, www, "{key}");
    }

    // Removed by hostname (the answer is what was removed), then gone.
    let removed = api
        .delete(&format!("/apps/{name}/domains/www.example.com"))
        .await
        .expect(200)
        .body;
    assert_eq!(removed, www);
    let r = api.get(&format!("/apps/{name}/domains/{id}")).await.expect(404);
    assert_eq!(
        r.body,
        json!({ "id": "not_found", "message": format!("domain {id} does not exist") })
    );
    let r = api
        .delete(&format!("/apps/{name}/domains/www.example.com"))
        .await
        .expect(404);
    assert_eq!(r.message(), "domain www.example.com does not exist");

    // Removed by id.
    let other = api_host["id"].as_str().unwrap();
    api.delete(&format!("/apps/{name}/domains/{other}")).await.expect(200);
    assert_eq!(
        custom(&api.get(&format!("/apps/{name}/domains")).await.expect(200).body),
        json!([])
    );

    // Each change is audited against the app.
    let admin = app.api("root", Scope::Admin);
    let audit = admin
        .get(&format!(
            "/admin/audit?target=app/{}&action=platform.domain",
            me["id"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .body;
    let mut actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "platform.domain.add",
            "platform.domain.add",
            "platform.domain.remove",
            "platform.domain.remove"
        ]
    );
}

#[tokio::test]
async fn hostile_hostnames_get_a_precise_422_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let invalid = |h: &str, why: &str| format!("hostname {h} is invalid: {why}");
    let long = "a".repeat(300);
    let label = format!("{}.com", "b".repeat(64));
    let cases: Vec<(&str, String)> = vec![
        ("", "hostname must not be empty".into()),
        ("../x", invalid("../x", "give the hostname alone, without a path")),
        (
            "a b.com",
            invalid(
                "a b.com",
                "' ' is not allowed: use letters, digits, '-' and '.' (an international name in its xn-- form)",
            ),
        ),
        (
            "'; drop table",
            invalid(
                "'; drop table",
                "'\\'' is not allowed: use letters, digits, '-' and '.' (an international name in its xn-- form)",
            ),
        ),
        (&long, "hostname is 300 characters long; at most 253 are allowed".into()),
        (
            "*.example.com",
            invalid("*.example.com", "wildcard domains are not supported"),
        ),
        (
            "example.com:80",
            invalid("example.com:80", "give the hostname alone, without a port"),
        ),
        (
            "http://x.com",
            invalid(
                "http://x.com",
                "give the hostname alone, without a scheme (www.example.com)",
            ),
        ),
        (
            "bücher.example",
            invalid(
                "bücher.example",
                "'ü' is not allowed: use letters, digits, '-' and '.' (an international name in its xn-- form)",
            ),
        ),
        (
            "example",
            invalid("example", "it needs at least two labels (www.example.com)"),
        ),
        ("a..example.com", invalid("a..example.com", "it has an empty label")),
        (
            &label,
            invalid(
                &label,
                &format!("the label {} is longer than 63 characters", "b".repeat(64)),
            ),
        ),
        (
            "-x.example.com",
            invalid("-x.example.com", "the label -x must not start or end with '-'"),
        ),
        (
            "127.0.0.1",
            invalid("127.0.0.1", "IP addresses are not supported: give a DNS name"),
        ),
    ];
    for (hostile, message) in &cases {
        let r = add(&api, &name, hostile).await.expect(422);
        assert_eq!(
            r.body,
            json!({ "id": "unprocessable", "message": message }),
            "{hostile}"
        );
    }
    // Not a JSON string, no hostname, another field: 400.
    for body in [
        json!({ "hostname": 5 }),
        json!({}),
        json!({ "hostname": "a.example", "kind": "x" }),
    ] {
        let r = api
            .post(&format!("/apps/{name}/domains"), body.clone())
            .await
            .expect(400);
        assert_eq!(r.error_id(), "bad_request", "{body}");
    }
    assert_eq!(
        custom(&api.get(&format!("/apps/{name}/domains")).await.expect(200).body),
        json!([])
    );
}

#[tokio::test]
async fn a_hostname_belongs_to_one_app_and_the_router_domain_to_none() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let (first, second) = (api.create_app().await, api.create_app().await);
    add(&api, &first, "www.example.com").await.expect(201);
    let r = add(&api, &first, "WWW.example.com").await.expect(422);
    assert_eq!(
        r.body,
        json!({ "id": "unprocessable", "message": format!("www.example.com is already added to app {first}") })
    );
    let r = add(&api, &second, "www.example.com.").await.expect(422);
    assert_eq!(
        r.body,
        json!({ "id": "unprocessable", "message": "www.example.com is already in use" })
    );

    // The router's domain and every name under it are apps' default hostnames.
    for reserved in [
        format!("{second}.localhost"),
        "x.localhost".into(),
        "a.b.LOCALHOST".into(),
    ] {
        let r = add(&api, &second, &reserved).await.expect(422);
        let hostname = reserved.to_ascii_lowercase();
        assert_eq!(
            r.message(),
            format!("{hostname} is under the router's domain localhost, whose names are the apps' default hostnames")
        );
    }
    assert_eq!(
        custom(&api.get(&format!("/apps/{second}/domains")).await.expect(200).body),
        json!([])
    );
    assert_eq!(
        hostnames(&api.get(&format!("/apps/{first}/domains")).await.body),
        ["www.example.com"]
    );
}

#[tokio::test]
async fn two_apps_racing_for_one_hostname_get_one_201_and_one_422() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let (a, b) = (api.create_app().await, api.create_app().await);
    for round in 0..5 {
        let hostname = format!("race{round}.example.com");
        let (ra, rb) = tokio::join!(add(&api, &a, &hostname), add(&api, &b, &hostname));
        let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [201, 422], "{} {}", ra.body, rb.body);
        let loser = if ra.status == 422 { &ra } else { &rb };
        assert_eq!(loser.message(), format!("{hostname} is already in use"));
    }
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_domain_route_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.platform();
    let name = alice.create_app().await;
    let www = add(&alice, &name, "www.example.com").await.expect(201).body;
    let id = www["id"].as_str().unwrap();
    let mallory = app.api("mallory", Scope::Platform);
    mallory.create_app().await;
    let hidden = json!({ "id": "not_found", "message": format!("app {name} does not exist") });
    let base = format!("/apps/{name}/domains");
    let replies = [
        mallory.get(&base).await,
        add(&mallory, &name, "evil.example.com").await,
        add(&mallory, &name, "not a hostname").await,
        mallory.post(&base, json!({})).await,
        mallory.get(&format!("{base}/{id}")).await,
        mallory.get(&format!("{base}/www.example.com")).await,
        mallory.delete(&format!("{base}/{id}")).await,
        mallory.delete(&format!("{base}/www.example.com")).await,
    ];
    for r in replies {
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(r.body, hidden);
    }
    assert_eq!(custom(&alice.get(&base).await.expect(200).body), json!([www]));
}

#[tokio::test]
async fn destroying_an_app_frees_its_hostnames_for_another_app() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let (old, new) = (api.create_app().await, api.create_app().await);
    add(&api, &old, "shop.example.com").await.expect(201);
    add(&api, &old, "www.shop.example.com").await.expect(201);
    add(&api, &new, "shop.example.com").await.expect(422);
    api.delete(&format!("/apps/{old}")).await.expect(200);
    let moved = add(&api, &new, "shop.example.com").await.expect(201).body;
    assert_eq!(moved["app"]["name"], new.as_str());
    add(&api, &new, "www.shop.example.com").await.expect(201);
    assert_eq!(
        hostnames(&api.get(&format!("/apps/{new}/domains")).await.expect(200).body),
        ["shop.example.com", "www.shop.example.com"]
    );
}
