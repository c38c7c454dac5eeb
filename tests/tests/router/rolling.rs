//! A rolling restart under steady load: every response is counted, and none fails.

use super::*;

/// The `MARK`s the load has seen answered.
type Seen = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// How many requests the load has had answered so far, by all clients.
type Answered = std::sync::Arc<std::sync::atomic::AtomicUsize>;

/// Requests until `stop`, from one keep-alive client: (ok, failures); the marks answered go
/// into `seen`.
async fn load(
    router: Router,
    host: String,
    stop: tokio::sync::watch::Receiver<bool>,
    (seen, answered): (Seen, Answered),
) -> (usize, Vec<String>) {
    let (mut ok, mut failed) = (0, Vec::new());
    let mut i = 0u64;
    while !*stop.borrow() {
        i += 1;
        // Now and then a slow request, which must finish on a dyno that is leaving.
        let path = if i.is_multiple_of(10) {
            "/sleep/300".to_string()
        } else {
            format!("/n/{i}")
        };
        match router.request(reqwest::Method::GET, &host, &path).send().await {
            Ok(r) if r.status() == 200 => {
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let text = r.text().await.unwrap_or_default();
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    seen.lock()
                        .unwrap()
                        .insert(v["mark"].as_str().unwrap_or_default().to_string());
                }
                ok += 1;
            }
            Ok(r) => failed.push(format!("{} {}", r.status(), r.text().await.unwrap_or_default())),
            Err(e) => failed.push(format!("transport: {e}")),
        }
    }
    (ok, failed)
}

#[tokio::test]
async fn a_rolling_restart_under_load_loses_no_request() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = http_app(&api, 2).await;
    let router = Router::new(&app.router_url);
    let host = format!("{name}.localhost");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (seen, answered) = (Seen::default(), Answered::default());
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let counters = (seen.clone(), answered.clone());
            tokio::spawn(load(router.clone(), host.clone(), stop_rx.clone(), counters))
        })
        .collect();
    // Load runs before, during and after the restart.
    wait_line(&api, &name, "under load", |l| l.contains("path=\"/n/")).await;
    for mark in ["one", "two"] {
        api.patch(
            &format!("/apps/{name}/config-vars"),
            serde_json::json!({ "MARK": mark }),
        )
        .await
        .expect(200);
        // Done when both web dynos answer with the new config.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut answered = HashMap::new();
        while answered.len() < 2 {
            assert!(Instant::now() < deadline, "the restart did not finish: {answered:?}");
            let (status, body) = router.get(&host, "/").await;
            assert_eq!(status, 200, "{body}");
            let seen: Value = serde_json::from_str(&body).unwrap();
            if seen["mark"] == mark {
                answered.insert(seen["dyno"].as_str().unwrap().to_string(), ());
            }
        }
    }
    // The load goes on until it, too, has been answered by the newest dynos.
    let deadline = Instant::now() + Duration::from_secs(60);
    // ...and until it has made 100 requests at least (however slow a busy machine makes it).
    while !seen.lock().unwrap().contains("two") || answered.load(std::sync::atomic::Ordering::Relaxed) < 100 {
        assert!(Instant::now() < deadline, "the load never reached the new dynos");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(true).unwrap();
    let (mut ok, mut failed) = (0, Vec::new());
    for c in clients {
        let (o, f) = c.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:#?}",
        failed.len(),
        ok + failed.len()
    );
    // The load really ran across both restarts.
    let seen = seen.lock().unwrap().clone();
    for mark in ["", "one", "two"] {
        assert!(seen.contains(mark), "no response with MARK={mark:?}: {seen:?}");
    }
    assert!(ok >= 100, "only {ok} requests");
}
