//! `logs`: the last lines (`-n`), one dyno's (`--dyno`), one source's (`--source`), and a live
//! `--tail` that shows a line written after it started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{ask, push, sample_app, up, wait_dynos, PROCFILE};
use addon_broker_tests::{CliUser, TestApp};

#[tokio::test]
async fn logs_filter_by_count_dyno_and_source_and_tail_follows() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let api = app.api("alice", broker::auth::Scope::Platform);
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;
    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    let port = list[0]["port"].as_u64().unwrap();
    // Enough lines: the web dyno logs every request, the broker its state changes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        ask(port, "/").await;
        let out = alice
            .run(&["logs", "-a", &name, "--dyno", "web.1", "--source", "app"])
            .await;
        if out.ok().matches("request /").count() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "too few lines: {}", out.stdout);
    }

    let two = alice.run(&["logs", "-a", &name, "-n", "2"]).await;
    assert_eq!(two.ok().lines().count(), 2, "{}", two.stdout);
    let web = alice.run(&["logs", "-a", &name, "--dyno", "web.1"]).await;
    assert!(web.ok().lines().all(|l| l.contains("[web.1]: ")), "{}", web.stdout);
    let broker = alice.run(&["logs", "-a", &name, "--source", "broker"]).await;
    assert!(broker.ok().lines().all(|l| l.contains(" broker[")), "{}", broker.stdout);
    assert!(broker.stdout.lines().count() > 0);
    let wrong = alice.run(&["logs", "-a", &name, "--dyno", "web.7"]).await;
    assert!(wrong.fails().contains("web.1"), "{}", wrong.stderr);

    // --tail: a request made after it started shows up while it runs.
    let (mut child, mut rx) = alice.follow(&["logs", "--tail", "-n", "0", "-a", &name, "--dyno", "web"]);
    let marker = format!("/tail-{}", uuid::Uuid::new_v4().simple());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    'outer: loop {
        assert!(Instant::now() < deadline, "the tail never showed {marker}: {seen:?}");
        ask(port, &marker).await;
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            if line.contains(&format!("request {marker}")) {
                break 'outer;
            }
            seen.push(line);
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "--tail keeps following");
    child.kill().unwrap();
    child.wait().unwrap();
}
