//! The router with real web dynos behind it: requests shared between dynos, the headers a dyno
//! sees, the log lines (also through `broker logs --tail`), rolling restarts under load,
//! Heroku's error codes, WebSockets, streamed bodies, custom domains and TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use addon_broker_tests::router::{http_app, router_lines, wait_line, Router};
use addon_broker_tests::{CliUser, Options, TestApp};
use serde_json::Value;

mod edges;
mod rolling;
mod streams;
mod tls_domains;

#[tokio::test]
async fn two_web_dynos_share_requests_and_see_the_forwarded_headers() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = http_app(&api, 2).await;
    let router = Router::new(&app.router_url);
    let host = format!("{name}.localhost");

    let mut by_dyno: HashMap<String, usize> = HashMap::new();
    for _ in 0..40 {
        let (status, body) = router.get(&host, "/").await;
        assert_eq!(status, 200, "{body}");
        let seen: Value = serde_json::from_str(&body).unwrap();
        *by_dyno.entry(seen["dyno"].as_str().unwrap().to_string()).or_default() += 1;
    }
    // One request at a time: least connections ties every time, so they take turns.
    assert_eq!(by_dyno.len(), 2, "{by_dyno:?}");
    assert!(by_dyno.values().all(|n| *n >= 10), "{by_dyno:?}");

    let request_id = "client-chosen-request-id-0001";
    let r = router
        .request(reqwest::Method::GET, &host, "/headers?x=1")
        .header("x-request-id", request_id)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "for=6.6.6.6;proto=https")
        .header("connection", "x-hop")
        .header("x-hop", "must not pass")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["via"], "1.1 addon-broker");
    let seen: Value = r.json().await.unwrap();
    let h = &seen["headers"];
    assert_eq!(seen["path"], "/headers?x=1");
    assert_eq!(h["host"], format!("{host}:{}", router.port()));
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http", "the client's claim is not passed on");
    assert_eq!(h["x-forwarded-port"], router.port().to_string());
    assert_eq!(h["x-request-id"], request_id);
    assert_eq!(h["via"], "1.1 addon-broker");
    assert!(h["x-request-start"].as_str().unwrap().starts_with("t="), "{h}");
    assert!(h.get("x-hop").is_none(), "a header named in Connection passed: {h}");
    for claim in ["x-forwarded-host", "forwarded"] {
        assert!(h.get(claim).is_none(), "the client's {claim} passed: {h}");
    }

    // A request id that is not valid is replaced.
    let r = router
        .request(reqwest::Method::GET, &host, "/")
        .header("x-request-id", "bad id")
        .send()
        .await
        .unwrap();
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["headers"]["x-request-id"].as_str().unwrap().len(), 36);

    let line = wait_line(&api, &name, "for the client's request id", |l| l.contains(request_id)).await;
    for field in [
        "at=info method=GET path=\"/headers?x=1\"",
        &format!("host={host} request_id={request_id} fwd=\"127.0.0.1\" dyno=web."),
        "status=200 bytes=",
        "protocol=http",
        " heroku[router]: ",
    ] {
        assert!(line.contains(field), "{field:?} missing: {line}");
    }
    assert!(
        line.contains(" connect=") && line.contains("ms service=") && line.contains("ms status=200"),
        "{line}"
    );
}

#[tokio::test]
async fn router_lines_appear_in_logs_tail() {
    // Through pasta's forward, not inside the dyno's namespace: the path of a broker that may
    // not enter namespaces stays tested.
    let app = TestApp::spawn_with(Options {
        enter_namespaces: false,
        ..Default::default()
    })
    .await;
    let api = app.platform();
    let name = http_app(&api, 1).await;
    let alice = CliUser::new(&app, "alice");
    let router = Router::new(&app.router_url);
    let (mut child, mut rx) = alice.follow(&["logs", "--tail", "-n", "0", "-a", &name]);
    let marker = format!("/tail-{}", uuid::Uuid::new_v4().simple());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let line = 'outer: loop {
        assert!(Instant::now() < deadline, "the tail never showed {marker}: {seen:#?}");
        assert_eq!(router.get(&format!("{name}.localhost"), &marker).await.0, 200);
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            if line.contains(&format!("path=\"{marker}\"")) {
                break 'outer line;
            }
            seen.push(line);
        }
    };
    assert!(line.contains("heroku[router]: at=info method=GET"), "{line}");
    assert!(line.contains("dyno=web.1") && line.contains("status=200"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
    // The same lines are the app's log.
    assert!(router_lines(&api, &name).await.iter().any(|l| l.contains(&marker)));
}
