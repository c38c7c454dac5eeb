//! One-off runs and logs.

use super::*;

#[tokio::test]
async fn one_off_runs_return_output_and_exit_code_and_stop_honours_the_grace_period() {
    let app = TestApp::spawn_with(Options {
        stop_grace_ms: 1_500,
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    // No code yet: nothing to run.
    let r = api
        .post(&format!("/apps/{name}/dynos"), json!({"command": "true"}))
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let procfile = "web: ./sample-dyno web\n\
                    polite: trap 'echo got SIGTERM; exit 0' TERM; echo polite ready; while :; do sleep 0.1; done\n\
                    stubborn: trap 'echo ignoring SIGTERM' TERM; echo stubborn ready; while :; do sleep 0.1; done\n";
    push(&api, &name, sample_app(procfile)).await;
    api.patch(
        &format!("/apps/{name}/config-vars"),
        json!({"SECRET_WORD": "swordfish"}),
    )
    .await;

    // attach: the answer carries the output and the exit code.
    let r = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({"command": "echo word=$SECRET_WORD dyno=$DYNO; echo pid=$$ procs=$(ls /proc | grep -c '^[0-9]'); echo oops >&2; exit 3", "attach": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["name"], "run.1");
    assert_eq!(r.body["exit_code"], 3);
    assert_eq!(r.body["state"], "crashed");
    let out = r.body["output"].as_str().unwrap();
    assert!(out.contains("word=swordfish dyno=run.1"), "{out}");
    assert!(out.contains("oops"), "{out}");
    let pid: u32 = out
        .split("pid=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let procs: u32 = out
        .split("procs=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(pid <= 3 && procs <= 5, "the dyno sees host processes: {out}");

    // Detached: returns at once; the output is kept and readable.
    let r = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({"command": "sleep 0.3; echo finished", "time_to_live": 60}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["name"], "run.2");
    assert_eq!(r.body["state"], "up");
    let deadline = Instant::now() + Duration::from_secs(20);
    let output = loop {
        let o = api.get(&format!("/apps/{name}/dynos/run.2/output")).await;
        assert_eq!(o.status, 200, "{:?}", o.body);
        if o.body["state"] == "down" {
            break o.body;
        }
        assert!(Instant::now() < deadline, "{:?}", o.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(output["exit_code"], 0);
    assert_eq!(output["output"], "finished\n");
    wait_log(&api, &name, "dyno=run.2", "app[run.2]: finished").await;

    // A time_to_live stops a run that outlives it.
    let r = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({"command": "sleep 60", "time_to_live": 1}),
        )
        .await;
    assert_eq!(r.status, 201);
    wait_dynos(&api, &name, "run.3 stopped by its time to live", |l| {
        l.iter().any(|d| d["name"] == "run.3" && d["state"] == "down")
    })
    .await;

    // Stop: a dyno that exits on SIGTERM goes at once; one that ignores it is killed after
    // the grace period (1.5 s); both come back, as formation dynos do.
    scale(
        &api,
        &name,
        json!([{"type": "web", "quantity": 0}, {"type": "polite", "quantity": 1}, {"type": "stubborn", "quantity": 1}]),
    )
    .await;
    let list = wait_dynos(&api, &name, "polite and stubborn up", |l| {
        up(l, "polite").len() == 1 && up(l, "stubborn").len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (dyno, min, max) in [("polite.1", 0, 1_200), ("stubborn.1", 1_500, 4_000)] {
        let old = list.iter().find(|d| d["name"] == dyno).unwrap()["id"].clone();
        let t = Instant::now();
        let r = api
            .post(&format!("/apps/{name}/dynos/{dyno}/actions/stop"), json!({}))
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        wait_dynos(&api, &name, "a new container", |l| {
            l.iter().any(|d| d["name"] == dyno && d["id"] != old)
        })
        .await;
        let took = t.elapsed().as_millis();
        assert!(took >= min && took < max, "{dyno} was replaced after {took} ms");
    }
    wait_log(&api, &name, "source=app", "app[polite.1]: got SIGTERM").await;
    wait_log(&api, &name, "source=app", "app[stubborn.1]: ignoring SIGTERM").await;
}

#[tokio::test]
async fn logs_stream_with_timestamps_and_dyno_names() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;
    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    let port = list[0]["port"].as_u64().unwrap();
    let buffered = wait_log(&api, &name, "dyno=web.1", "web listening on").await;
    let line = buffered
        .lines()
        .find(|l| l.contains("web listening on"))
        .expect("the web dyno's first line");
    // `2026-11-26T09:00:00.123456+00:00 app[web.1]: web listening on 43210`
    let (stamp, rest) = line.split_once(' ').unwrap();
    assert!(chrono_like(stamp), "{line}");
    assert_eq!(rest, format!("app[web.1]: web listening on {port}"));

    let mut stream = api
        .request(
            reqwest::Method::GET,
            &format!("/apps/{name}/logs?tail=true&dyno=web.1&lines=0"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    ask(port, "/tail-marker").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains("app[web.1]: request /tail-marker") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("the tail delivers the new line")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("worker"), "{seen}");
}

fn chrono_like(stamp: &str) -> bool {
    stamp.len() == 32 && stamp.ends_with("+00:00") && stamp.as_bytes()[10] == b'T' && stamp.as_bytes()[19] == b'.'
}
