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
    let target = format!("{name}.localhost");
    // Only the default hostname, the router's `{app}.localhost`, to begin with.
    let none = alice.run(&["domains"]).await;
    let lines: Vec<&str> = none.ok().lines().collect();
    assert_eq!(lines[0], format!("=== {name} Domains"));
    let rows: Vec<Vec<&str>> = lines[2..].iter().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows, [[target.as_str(), "heroku"]], "{}", none.stdout);

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
    assert_eq!(rows[0], [target.as_str(), "heroku"]);
    assert_eq!(
        rows[1..],
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
    let left = api.get(&format!("/apps/{name}/domains")).await.expect(200).body;
    let kinds: Vec<&Value> = left.as_array().unwrap().iter().map(|d| &d["kind"]).collect();
    assert_eq!(kinds, ["heroku"], "only the default hostname is left: {left}");
    let cleared = alice.run(&["domains:clear", "--json"]).await.json();
    assert_eq!(cleared, Value::Array(vec![]));
}

/// `open /admin` runs $BROWSER with `http://{app}.localhost:{port}/admin` (the script writes
/// it to `seen`), and that URL serves the app through the router; `apps:info` shows it.
#[tokio::test]
async fn open_gives_the_browser_the_apps_url() {
    let app = TestApp::spawn().await;
    let mut alice = CliUser::new(&app, "alice");
    let name = create_app(&alice, "open").await;
    let (script, seen) = (alice.home().join("browser"), alice.home().join("seen"));
    std::fs::write(&script, format!("#!/bin/sh\nprintf %s \"$1\" > {}\n", seen.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    alice.set_env("BROWSER", script.to_str().unwrap());

    let port = app.router_url.rsplit(':').next().unwrap();
    let url = format!("http://{name}.localhost:{port}/admin");
    let out = alice.run(&["open", "/admin"]).await;
    assert!(out.ok().contains(&url), "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), url);
    let info = alice.run(&["apps:info"]).await;
    let line = info
        .ok()
        .lines()
        .find(|l| l.starts_with("Web URL"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.ends_with(&format!("http://{name}.localhost:{port}/")),
        "{}",
        info.stdout
    );
    // No code yet: the URL answers, with H14 (a person's curl resolves *.localhost itself).
    let curl = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "503");
}
