//! `domains`, `domains:add`, `domains:remove`, `domains:clear` and `open` through the real
//! `broker` binary.

use addon_broker_tests::{CliUser, TestApp};
use broker::auth::Scope;
use serde_json::Value;

use super::config::create_app;

#[tokio::test]
async fn custom_domains_are_added_listed_removed_and_cleared() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let name = create_app(&alice, "dom").await;
    let none = alice.run(&["domains"]).await;
    assert_eq!(
        none.ok().trim(),
        format!("{name} has no domains; add one with: broker domains:add www.example.com -a {name}")
    );

    let added = alice.run(&["domains:add", "WWW.example.com"]).await;
    assert_eq!(
        added.ok(),
        format!(
            "Added www.example.com to {name}\nConfigure your DNS to point www.example.com at {name}.localhost (a CNAME record)\n"
        )
    );
    let json = alice.run(&["domains:add", "api.example.com", "--json"]).await.json();
    assert_eq!(json["kind"], "custom");
    assert_eq!(json["cname"], format!("{name}.localhost"));
    alice
        .run(&["domains", "add", "shop.example.com", "-a", &name])
        .await
        .ok();

    let table = alice.run(&["domains"]).await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines[0], format!("=== {name} Domains"));
    let rows: Vec<Vec<&str>> = lines[2..].iter().map(|l| l.split_whitespace().collect()).collect();
    let target = format!("{name}.localhost");
    assert_eq!(
        rows,
        [
            ["api.example.com", "custom", target.as_str()],
            ["shop.example.com", "custom", target.as_str()],
            ["www.example.com", "custom", target.as_str()],
        ]
    );

    // A refused name is one line with the API's reason; an unknown one too.
    let out = alice.run(&["domains:add", "x.localhost"]).await;
    assert!(
        out.fails().contains("under the router's domain localhost"),
        "{}",
        out.stderr
    );
    let out = alice.run(&["domains:remove", "nope.example.com"]).await;
    assert_eq!(out.fails(), "broker: domain nope.example.com does not exist");

    let removed = alice.run(&["domains:remove", "www.example.com"]).await;
    assert_eq!(removed.ok(), format!("Removed www.example.com from {name}\n"));
    let cleared = alice.run(&["domains:clear"]).await;
    assert_eq!(
        cleared.ok(),
        format!("Removed api.example.com\nRemoved shop.example.com\n{name} has no custom domains now (2 removed)\n")
    );
    let api = app.api("alice", Scope::Platform);
    assert_eq!(
        api.get(&format!("/apps/{name}/domains")).await.expect(200).body,
        Value::Array(vec![])
    );
    let cleared = alice.run(&["domains:clear", "--json"]).await.json();
    assert_eq!(cleared, Value::Array(vec![]));
}

// flips when the router is bound (issue 15): then `open /admin` runs $BROWSER with
// `http://{app}.localhost:{port}/admin`, which the script writes to `seen`.
#[tokio::test]
async fn open_has_no_web_url_to_give_the_browser_until_the_router_is_bound() {
    let app = TestApp::spawn().await;
    let mut alice = CliUser::new(&app, "alice");
    let name = create_app(&alice, "open").await;
    let (script, seen) = (alice.home().join("browser"), alice.home().join("seen"));
    std::fs::write(&script, format!("#!/bin/sh\nprintf %s \"$1\" > {}\n", seen.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    alice.set_env("BROWSER", script.to_str().unwrap());

    let out = alice.run(&["open", "/admin"]).await;
    assert_eq!(
        out.fails(),
        format!("broker: {name} has no web URL: this broker runs no router")
    );
    assert!(!seen.exists(), "the browser was not run");
    let info = alice.run(&["apps:info"]).await;
    assert!(
        info.ok()
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Web", "URL:"]),
        "apps:info shows an empty Web URL: {}",
        info.stdout
    );
}
