//! Heroku's error codes at the edges, each with its status, its page and its log line: a dyno
//! that hangs up (H13) or breaks off an upload (H18), one too slow (H12), an unknown host, a
//! crashed app (H10) and one scaled to zero (H14).

use super::*;

#[tokio::test]
async fn the_edges_answer_herokus_errors_and_log_them() {
    let app = TestApp::spawn_with(Options {
        router_timeout_ms: 1_000,
        // A crashed web dyno stays down long enough to be seen.
        backoff_initial_ms: 600_000,
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = http_app(&api, 1).await;
    let router = Router::new(&app.router_url);
    let host = format!("{name}.localhost");

    // H13: the dyno closes the connection without answering.
    let (status, body) = router.get(&host, "/hangup").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Application error"), "{body}");
    let line = wait_line(&api, &name, "H13", |l| l.contains("code=H13")).await;
    assert!(
        line.contains("desc=\"Connection closed without response\" method=GET path=\"/hangup\""),
        "{line}"
    );
    assert!(line.contains("dyno=web.1") && line.contains("status=503"), "{line}");

    // H18: the dyno hangs up while the request body is still on its way. The client may see
    // the 503 or, cut off mid-upload itself, an error: the log says which it was.
    let upload = vec![b'x'; 32 << 20];
    let sent = router
        .request(reqwest::Method::POST, &host, "/hangup")
        .body(upload)
        .send()
        .await;
    if let Ok(r) = sent {
        assert_eq!(r.status(), 503);
    }
    let line = wait_line(&api, &name, "H18", |l| l.contains("code=H18")).await;
    assert!(
        line.contains("desc=\"Server Request Interrupted\" method=POST"),
        "{line}"
    );

    // H12: no response within router.timeout_ms (1 s here; the dyno would take 60).
    let (status, body) = router.get(&host, "/sleep/60000").await;
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("took too long"), "{body}");
    let line = wait_line(&api, &name, "H12", |l| l.contains("code=H12")).await;
    assert!(
        line.contains("desc=\"Request timeout\"") && line.contains("status=504"),
        "{line}"
    );
    // The dyno still serves.
    assert_eq!(router.get(&host, "/hello").await, (200, "hello world".into()));
    // The clock starts once the request is all with the dyno: an upload longer than the
    // timeout is no H12.
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let slow = tokio::spawn(async move {
        for _ in 0..3 {
            futures::SinkExt::send(&mut tx, Ok(vec![b's'; 1000])).await.unwrap();
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
    });
    let r = router
        .request(reqwest::Method::POST, &host, "/upload")
        .body(reqwest::Body::wrap_stream(rx))
        .send()
        .await
        .unwrap();
    slow.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["bytes"], 3000);

    // No app at a host: a plain 404 page, nothing logged for any app.
    for unknown in ["nosuchapp.localhost", "www.example.invalid", "a.b.localhost"] {
        let (status, body) = router.get(unknown, "/").await;
        assert_eq!(status, 404, "{unknown}: {body}");
        assert!(body.contains("No such app"), "{body}");
    }
    let r = router
        .client
        .get(format!("{}/", router.base))
        .header("host", "bad host!")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // H10: the only web dyno crashed (and its restart is far off).
    let (status, _) = router.get(&host, "/exit").await;
    assert_eq!(status, 503, "the request that crashed it has no answer");
    // Until the supervisor has seen the exit, a request may still reach the dying dyno (H13);
    // either way every answer is a 503, and H10 follows once the exit is known.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = router.get(&host, "/").await;
        assert_eq!(status, 503, "{body}");
        if router_lines(&api, &name).await.iter().any(|l| l.contains("code=H10")) {
            break;
        }
        assert!(Instant::now() < deadline, "never H10: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = wait_line(&api, &name, "H10", |l| l.contains("code=H10")).await;
    assert!(line.contains("desc=\"App crashed\" method=GET path=\"/\""), "{line}");
    assert!(line.contains("dyno= connect= service="), "no dyno was asked: {line}");
    // The request that crashed the dyno was not sent to it twice.
    let lines = router_lines(&api, &name).await;
    let exit: Vec<&String> = lines.iter().filter(|l| l.contains("path=\"/exit\"")).collect();
    assert_eq!(exit.len(), 1, "{exit:#?}");
    assert!(exit[0].contains("code=H13"), "{}", exit[0]);

    // H14: scaled to zero.
    addon_broker_tests::dynos::scale(&api, &name, serde_json::json!([{ "type": "web", "quantity": 0 }])).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = router.get(&host, "/").await;
        assert_eq!(status, 503, "{body}");
        if body.contains("no web dynos running") {
            break;
        }
        assert!(Instant::now() < deadline, "never H14: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = wait_line(&api, &name, "H14", |l| l.contains("code=H14")).await;
    assert!(
        line.contains("desc=\"No web dynos running\"") && line.contains("dyno= connect= service="),
        "{line}"
    );
}

#[tokio::test]
async fn a_request_waits_for_a_booting_dyno_rather_than_failing() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = http_app(&api, 1).await;
    let router = Router::new(&app.router_url);
    let host = format!("{name}.localhost");
    // Scale to 0, then up again: the first request after that waits for the new dyno to boot.
    addon_broker_tests::dynos::scale(&api, &name, serde_json::json!([{ "type": "web", "quantity": 0 }])).await;
    addon_broker_tests::dynos::wait_dynos(&api, &name, "no web", |l| l.iter().all(|d| d["type"] != "web")).await;
    addon_broker_tests::dynos::scale(&api, &name, serde_json::json!([{ "type": "web", "quantity": 1 }])).await;
    // Right after the change the router may still answer H14 (it learns of it within a tick);
    // from the first request it routes on, no request fails while the dyno boots.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = router.get(&host, "/hello").await;
        if status == 200 {
            break;
        }
        assert!(body.contains("no web dynos running"), "{status}: {body}");
        assert!(Instant::now() < deadline, "never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = router_lines(&api, &name).await;
    assert!(
        !lines.iter().any(|l| l.contains("code=H10") || l.contains("code=H20")),
        "{lines:#?}"
    );
}
