//! A build's output as it is written: `Prefer: respond-async` answers 202 with the pending
//! build, its `output_stream_url` streams the release phase's lines while it runs and replays
//! the whole output once it ended; a broker that dies mid-build leaves no build pending.

use super::*;

/// A release phase that prints, waits until the test creates `/app/go`, and prints again. The
/// wait is bounded (about a minute) only so that a test that failed early leaves nothing running.
const WAITING_RELEASE: &str = "release: echo before-the-wait; for i in $(seq 1200); do [ -e /app/go ] && break; sleep 0.05; done; echo after-the-wait\n";

/// Posts a build with `Prefer: respond-async`; the 202 answer's body.
async fn post_async(api: &addon_broker_tests::Api, app: &str, archive: Vec<u8>) -> Value {
    let r = api
        .send(
            api.request(reqwest::Method::POST, &format!("/apps/{app}/builds"))
                .header("content-type", "application/gzip")
                .header("prefer", "respond-async")
                .body(archive),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.headers["preference-applied"], "respond-async");
    r.body
}

/// Creates `/app/go` in the release phase's container (each container has its own copy of the
/// slug, under `<data dir>/dynos/<container>/app`).
fn release_may_go(app: &TestApp) -> usize {
    let mut found = 0;
    for entry in std::fs::read_dir(app.dir().join("dynos")).unwrap().flatten() {
        let dir = entry.path().join("app");
        if dir.join("Procfile").exists() {
            std::fs::write(dir.join("go"), b"").unwrap();
            found += 1;
        }
    }
    found
}

/// Opens a build's output stream (the path of its `output_stream_url`, on this broker's URL).
async fn open(api: &addon_broker_tests::Api, url: &str) -> reqwest::Response {
    let path = &url[url.find("/apps/").expect("an /apps/ URL")..];
    api.request(reqwest::Method::GET, path).send().await.unwrap()
}

/// Reads the stream until `needle` is in what was read (20 s at most); returns all of it.
async fn read_until(resp: &mut reqwest::Response, text: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in the stream yet: {text}"))
            .unwrap();
        let chunk = chunk.unwrap_or_else(|| panic!("the stream ended without {needle:?}: {text}"));
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn an_async_build_streams_its_output_while_it_runs_and_replays_it_after() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = post_async(&api, &name, sample_app(&format!("{PROCFILE}{WAITING_RELEASE}"))).await;
    assert_eq!(build["status"], "pending", "{build}");
    let url = build["output_stream_url"].as_str().unwrap().to_string();
    let id = build["id"].as_str().unwrap();
    assert!(
        url.starts_with("http://") && url.ends_with(&format!("/builds/{id}/output")),
        "{url}"
    );

    assert_eq!(&url[..app.url.len()], app.url, "absolute, on the broker's own URL");
    let mut resp = open(&api, &url).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let mut text = String::new();
    read_until(&mut resp, &mut text, "before-the-wait\n").await;
    // Live: the phase is still waiting, so the build is pending and nothing after it is there.
    assert!(text.contains("-----> Unpacked the archive"), "{text}");
    assert!(text.contains("-----> Process types: release, web, worker"), "{text}");
    assert!(
        text.contains("-----> Running the release phase: echo before-the-wait;"),
        "{text}"
    );
    assert!(!text.contains("\nafter-the-wait"), "{text}");
    let now = api.get(&format!("/apps/{name}/builds/{id}")).await.expect(200).body;
    assert_eq!(now["status"], "pending", "{now}");
    assert_eq!(now["output_stream_url"], url.as_str());

    assert!(
        release_may_go(&app) > 0,
        "no container directory under {}",
        app.dir().display()
    );
    read_until(&mut resp, &mut text, "-----> Released v2\n").await;
    // The stream ends with the build.
    let rest = tokio::time::timeout(Duration::from_secs(20), resp.text())
        .await
        .unwrap()
        .unwrap();
    text.push_str(&rest);
    assert!(
        text.contains("after-the-wait\nRelease phase succeeded\n-----> Released v2\n"),
        "{text}"
    );

    let done = api.get(&format!("/apps/{name}/builds/{id}")).await.expect(200).body;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["output"], text.as_str());
    // A finished build's stream replays the whole output.
    assert_eq!(open(&api, &url).await.text().await.unwrap(), text);
    // A stranger gets the 404 of a build that does not exist.
    let stranger = app.api("mallory", broker::auth::Scope::Platform);
    let r = open(&stranger, &url).await;
    let status = r.status();
    assert_eq!(status, 404, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_synchronous_build_has_its_stream_url_and_says_what_it_did() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = push(&api, &name, sample_app(PROCFILE)).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    let out = build["output"].as_str().unwrap();
    assert!(out.starts_with("-----> Unpacked the archive: "), "{out}");
    assert!(out.ends_with("-----> Released v2\n"), "{out}");
    let url = build["output_stream_url"].as_str().unwrap();
    assert_eq!(open(&api, url).await.text().await.unwrap(), out);
}

#[tokio::test]
async fn a_build_left_pending_by_a_broker_that_died_is_failed_when_a_broker_starts() {
    let mut app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = post_async(&api, &name, sample_app(&format!("{PROCFILE}{WAITING_RELEASE}"))).await;
    let id = build["id"].as_str().unwrap().to_string();
    let url = build["output_stream_url"].as_str().unwrap();
    let mut resp = open(&api, url).await;
    let mut text = String::new();
    read_until(&mut resp, &mut text, "before-the-wait\n").await;
    app.kill();
    app.start();
    let api = app.platform();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let b = api.get(&format!("/apps/{name}/builds/{id}")).await.expect(200).body;
        if b["status"] == "failed" {
            assert!(
                b["output"]
                    .as_str()
                    .unwrap()
                    .contains("the broker stopped during the build"),
                "{b}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "still {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its stream ends at once with that output, and no release was made.
    let out = open(&api, url).await.text().await.unwrap();
    assert!(out.contains("the broker stopped during the build"), "{out}");
    assert_eq!(release_count(&api, &name).await, 1);
    // A phase container the dead broker left (if the new one has not removed it yet) ends.
    release_may_go(&app);
}
