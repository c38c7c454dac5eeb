//! The dyno runtime over HTTP with real containers (bubblewrap + cgroups) running the sample
//! app: builds, formation, restarts on new releases, crashes and backoff, one-off runs, stop
//! grace, logs, and a broker restart that adopts what runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{ask, logs, post_build, push, sample_app, scale, up, wait_dynos, PROCFILE};
use addon_broker_tests::{Options, TestApp};
use serde_json::{json, Value};

/// How many releases the app has.
async fn release_count(api: &addon_broker_tests::Api, app: &str) -> usize {
    let r = api.get(&format!("/apps/{app}/releases")).await;
    r.body.as_array().map_or(0, Vec::len)
}

/// Polls the app's logs until `needle` shows up (the collector reads output every tick).
async fn wait_log(api: &addon_broker_tests::Api, app: &str, query: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = logs(api, app, query).await;
        if log.contains(needle) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in the logs: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ports(list: &[Value], kind: &str) -> HashMap<String, u64> {
    up(list, kind)
        .into_iter()
        .map(|d| (d["name"].as_str().unwrap().to_string(), d["port"].as_u64().unwrap()))
        .collect()
}

fn ids(list: &[Value], kind: &str) -> HashMap<String, String> {
    list.iter()
        .filter(|d| d["type"] == kind)
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_build_runs_web_dynos_that_scale_and_see_their_environment() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = push(&api, &name, sample_app(PROCFILE)).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    // v1 is the app's initial release; the build makes v2.
    assert_eq!(build["release"]["version"], 2);

    let formation = api.get(&format!("/apps/{name}/formation")).await.body;
    let formation = formation.as_array().unwrap();
    assert_eq!(formation.len(), 2, "{formation:?}");
    assert_eq!(formation[0]["type"], "web");
    assert_eq!(formation[0]["quantity"], 1);
    assert_eq!(formation[0]["size"], "standard-1x");
    assert_eq!(formation[1]["type"], "worker");
    assert_eq!(formation[1]["quantity"], 0);

    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    let port = list[0]["port"].as_u64().unwrap();
    let v2 = api.get(&format!("/apps/{name}/releases/2")).await.body;
    assert_eq!(list[0]["release"], json!({"id": v2["id"], "version": 2}));
    assert_eq!(build["release"], json!({"id": v2["id"], "version": 2}));
    let me = ask(port, "/").await.expect("web.1 answers on its port");
    assert_eq!(me["env"]["DYNO"], "web.1");
    assert_eq!(me["env"]["PORT"], port.to_string());
    assert_eq!(me["env"]["HOME"], "/app");
    assert_eq!(me["cwd"], "/app");
    assert_eq!(me["hostname"], "web.1");
    // Its own PID namespace: a low pid, and only its own handful of processes visible.
    assert!(me["pid"].as_u64().unwrap() <= 3, "{me}");
    assert!(me["visible_processes"].as_u64().unwrap() <= 4, "{me}");

    scale(
        &api,
        &name,
        json!([{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}]),
    )
    .await;
    let list = wait_dynos(&api, &name, "web=2 worker=1", |l| {
        up(l, "web").len() == 2 && up(l, "worker").len() == 1
    })
    .await;
    let web = ports(&list, "web");
    assert_ne!(web["web.1"], web["web.2"]);
    for (dyno, port) in &web {
        let me = ask(*port, "/").await.expect("every web dyno answers");
        assert_eq!(me["env"]["DYNO"], *dyno);
    }
    wait_log(&api, &name, "dyno=worker.1", "app[worker.1]: worker tick").await;

    // Scale down: exactly one web dyno left.
    let r = api
        .patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 1}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["quantity"], 1);
    wait_dynos(&api, &name, "web=1", |l| {
        l.iter().filter(|d| d["type"] == "web").count() == 1
    })
    .await;
    let running = app.runtime_running().await;
    assert_eq!(running, 2, "web.1 and worker.1 run, nothing else");

    // Restart one dyno: only it gets a new container; restart all: every one does.
    let list = wait_dynos(&api, &name, "web.1 and worker.1 up", |l| {
        up(l, "web").len() == 1 && up(l, "worker").len() == 1
    })
    .await;
    let (web, worker) = (
        ids(&list, "web")["web.1"].clone(),
        ids(&list, "worker")["worker.1"].clone(),
    );
    let r = api.delete(&format!("/apps/{name}/dynos/web.1")).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let list = wait_dynos(&api, &name, "web.1 restarted", |l| {
        up(l, "web").len() == 1 && ids(l, "web")["web.1"] != web
    })
    .await;
    assert_eq!(ids(&list, "worker")["worker.1"], worker, "the worker was not restarted");
    let web = ids(&list, "web")["web.1"].clone();
    let r = api.delete(&format!("/apps/{name}/dynos")).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    wait_dynos(&api, &name, "everything restarted", |l| {
        up(l, "web").len() == 1
            && up(l, "worker").len() == 1
            && ids(l, "web")["web.1"] != web
            && ids(l, "worker")["worker.1"] != worker
    })
    .await;
    let r = api.delete(&format!("/apps/{name}/dynos/web.9")).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert_eq!(app.runtime_running().await, 2);
}

/// Polls web dynos during a rollout: every poll at least one of them must answer.
async fn rollout(
    api: &addon_broker_tests::Api,
    app: &str,
    before: &HashMap<String, String>,
    check: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = api
            .get(&format!("/apps/{app}/dynos"))
            .await
            .body
            .as_array()
            .cloned()
            .unwrap();
        let web = ports(&list, "web");
        let mut answered = 0;
        let mut all_new = web.len() == before.len();
        for (dyno, port) in &web {
            if let Some(me) = ask(*port, "/").await {
                answered += 1;
                all_new &= check(&me);
            } else {
                all_new = false;
            }
            let id = list.iter().find(|d| d["name"] == *dyno).unwrap()["id"]
                .as_str()
                .unwrap();
            all_new &= before.get(dyno).map(String::as_str) != Some(id);
        }
        assert!(answered >= 1, "no web dyno answered during the rollout: {list:#?}");
        if all_new {
            return list;
        }
        assert!(Instant::now() < deadline, "rollout did not finish: {list:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// "Starting process" lines of the broker for a dyno since `from` lines of the log.
async fn starts(api: &addon_broker_tests::Api, app: &str, dyno: &str) -> usize {
    logs(api, app, &format!("dyno={dyno}&source=broker"))
        .await
        .matches("Starting process")
        .count()
}

#[tokio::test]
async fn new_releases_restart_dynos_once_without_dropping_web_to_zero() {
    let app = TestApp::spawn_with(Options {
        // Two add-ons created together land within this window and cause one restart.
        restart_debounce_ms: 1_500,
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;
    let r = api
        .patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 2}))
        .await;
    assert_eq!(r.status, 200);
    let list = wait_dynos(&api, &name, "web=2", |l| up(l, "web").len() == 2).await;
    let before = ids(&list, "web");

    // addons:create postgresql → one rolling restart; the dynos see DATABASE_URL and use it.
    let r = api
        .post(&format!("/apps/{name}/addons"), json!({"plan": "postgresql:shared"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = api.config(&name).await["DATABASE_URL"].as_str().unwrap().to_string();
    let list = rollout(&api, &name, &before, |me| me["env"]["DATABASE_URL"] == url.as_str()).await;
    for port in ports(&list, "web").values() {
        let db = ask(*port, "/db").await.unwrap();
        // Connected as the user the URL names, to the add-on's database.
        let user = url.split("://").nth(1).and_then(|r| r.split(':').next()).unwrap();
        assert_eq!(db["user"], user, "{db}");
        assert!(db["database"].as_str().is_some_and(|d| url.ends_with(d)), "{db}");
    }
    assert_eq!(starts(&api, &name, "web.1").await, 2, "{}", logs(&api, &name, "").await);
    assert_eq!(starts(&api, &name, "web.2").await, 2);

    // A config change → one restart with the new value.
    let before = ids(&list, "web");
    let r = api
        .patch(&format!("/apps/{name}/config-vars"), json!({"GREETING": "hello"}))
        .await;
    assert_eq!(r.status, 200);
    let list = rollout(&api, &name, &before, |me| me["env"]["GREETING"] == "hello").await;
    assert_eq!(starts(&api, &name, "web.1").await, 3);
    assert_eq!(starts(&api, &name, "web.2").await, 3);

    // Two add-ons attached together → one restart that brings both.
    let before = ids(&list, "web");
    let path = format!("/apps/{name}/addons");
    let (a, b) = tokio::join!(
        api.post(&path, json!({"plan": "redis:shared"})),
        api.post(
            &path,
            json!({"plan": "postgresql:shared", "attachment": {"name": "ANALYTICS"}})
        ),
    );
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16()),
        (201, 201),
        "{:?} {:?}",
        a.body,
        b.body
    );
    rollout(&api, &name, &before, |me| {
        me["env"]["REDIS_URL"].is_string() && me["env"]["ANALYTICS_URL"].is_string()
    })
    .await;
    // Let a second (wrong) rollout have its chance to show up.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(
        starts(&api, &name, "web.1").await,
        4,
        "{}",
        logs(&api, &name, "source=broker").await
    );
    assert_eq!(starts(&api, &name, "web.2").await, 4);
    assert_eq!(app.runtime_running().await, 2);
}

#[tokio::test]
async fn a_dyno_over_its_memory_limit_is_killed_shows_crashed_and_restarts_with_backoff() {
    let app = TestApp::spawn().await; // backoff starts at 300 ms
    let api = app.platform();
    let name = api.create_app().await;
    // standard-1x allows 512 MiB: 700 MiB is killed by the kernel.
    push(
        &api,
        &name,
        sample_app("web: ./sample-dyno web\nhog: ./sample-dyno hog 700\n"),
    )
    .await;
    scale(
        &api,
        &name,
        json!([{"type": "web", "quantity": 0}, {"type": "hog", "quantity": 1}]),
    )
    .await;
    let list = wait_dynos(&api, &name, "hog.1 crashed", |l| {
        l.iter().any(|d| d["name"] == "hog.1" && d["state"] == "crashed")
    })
    .await;
    let first = list.iter().find(|d| d["name"] == "hog.1").unwrap()["id"].clone();
    // It comes back (a new container), crashes again, and the delay doubles.
    wait_dynos(&api, &name, "hog.1 restarted", |l| {
        l.iter()
            .any(|d| d["name"] == "hog.1" && d["id"] != first && d["restarts"].as_u64() >= Some(2))
    })
    .await;
    let log = logs(&api, &name, "dyno=hog.1").await;
    assert!(log.contains("app[hog.1]: allocating 700 MiB"), "{log}");
    assert!(
        !log.contains("allocated 700 MiB"),
        "the allocation must not succeed: {log}"
    );
    assert!(log.contains("Error R15 (Memory quota vastly exceeded)"), "{log}");
    assert!(log.contains("restart 1 in 300 ms"), "{log}");
    assert!(log.contains("restart 2 in 600 ms"), "{log}");

    // A new release resets the backoff: the crash count starts again.
    let r = api.patch(&format!("/apps/{name}/config-vars"), json!({"X": "1"})).await;
    assert_eq!(r.status, 200);
    wait_dynos(&api, &name, "hog.1 on the new release", |l| {
        l.iter().any(|d| d["name"] == "hog.1" && d["release"]["version"] == 3)
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while logs(&api, &name, "dyno=hog.1")
        .await
        .matches("restart 1 in 300 ms")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "{}", logs(&api, &name, "dyno=hog.1").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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

#[tokio::test]
async fn a_killed_broker_comes_back_to_exactly_the_formation() {
    let mut app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;
    scale(
        &api,
        &name,
        json!([{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}]),
    )
    .await;
    let list = wait_dynos(&api, &name, "web=2 worker=1", |l| {
        up(l, "web").len() == 2 && up(l, "worker").len() == 1
    })
    .await;
    let before = ids(&list, "web");
    let worker = ids(&list, "worker")["worker.1"].clone();

    app.kill();
    // While the broker is down the dynos keep serving; one of them dies meanwhile.
    for port in ports(&list, "web").values() {
        assert!(ask(*port, "/").await.is_some());
    }
    {
        use runtime::Runtime;
        app.runtime().stop(&worker, Duration::from_millis(100)).await.unwrap();
    }
    app.start();
    let api = app.platform();
    let list = wait_dynos(&api, &name, "the formation again", |l| {
        up(l, "web").len() == 2 && up(l, "worker").len() == 1 && ids(l, "worker")["worker.1"] != worker
    })
    .await;
    // The web dynos were adopted, not restarted; the dead worker was replaced; nothing doubled.
    assert_eq!(ids(&list, "web"), before);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.runtime_running().await, 3);
}

#[tokio::test]
async fn bad_archives_and_procfiles_are_refused_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    use addon_broker_tests::dynos::{archive, archive_with_symlink};
    let gz_not_tar = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&[7u8; 2000]).unwrap();
        e.finish().unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("plain text", b"not an archive".to_vec(), "gzip-compressed tar"),
        ("gzip, not tar", gz_not_tar, "not a valid .tar.gz"),
        ("no Procfile", archive(&[("app.sh", b"echo", 0o755)]), "no Procfile"),
        (
            "malformed Procfile",
            archive(&[("Procfile", b"web ./server\n", 0o644)]),
            "line 1",
        ),
        (
            "bad process type",
            archive(&[("Procfile", b"web app: ./server\n", 0o644)]),
            "must match",
        ),
        (
            "duplicate type",
            archive(&[("Procfile", b"web: a\nweb: b\n", 0o644)]),
            "defined twice",
        ),
        (
            "dot-dot",
            archive(&[("Procfile", b"web: a\n", 0o644), ("../escape.txt", b"x", 0o644)]),
            "escapes",
        ),
        (
            "absolute",
            archive(&[("Procfile", b"web: a\n", 0o644), ("/tmp/escape.txt", b"x", 0o644)]),
            "escapes",
        ),
        (
            "symlink out",
            archive_with_symlink("etc", "../../etc"),
            "points outside",
        ),
        (
            "absolute symlink",
            archive_with_symlink("passwd", "/etc/passwd"),
            "points outside",
        ),
    ];
    for (what, body, message) in cases {
        let r = post_build(&api, &name, body).await;
        assert_eq!(r.status, 400, "{what}: {:?}", r.body);
        assert_eq!(r.body["id"], "bad_request", "{what}");
        assert!(
            r.body["message"].as_str().unwrap().contains(message),
            "{what}: {:?}",
            r.body
        );
    }
    assert!(!std::path::Path::new("/tmp/escape.txt").exists());

    // Nothing was half-written: no build, no slug on disk, no release beyond the first.
    assert_eq!(api.get(&format!("/apps/{name}/builds")).await.body, json!([]));
    let slugs = app.dir().join("slugs");
    let left: Vec<_> = std::fs::read_dir(&slugs)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(release_count(&api, &name).await, 1);

    // Links that each stay inside on their own but climb out together, then a Procfile written
    // through one of them: nothing may land outside the slug, whatever the answer.
    use addon_broker_tests::dynos::{archive_of, Entry};
    let escape = format!("abr-escape-{}", uuid::Uuid::new_v4().simple());
    let up_to_root = "a/z";
    let mut links = vec![Entry::Link("a/b", "..")];
    let names = [
        "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w",
        "x", "y", "z",
    ];
    let targets: Vec<(String, String)> = names
        .windows(2)
        .map(|w| (format!("a/{}", w[1]), format!("{}/..", w[0])))
        .collect();
    for (path, target) in &targets {
        links.push(Entry::Link(path, target));
    }
    let through = format!("{up_to_root}/tmp/{escape}");
    links.push(Entry::Link("Procfile", &through));
    links.push(Entry::File("Procfile", b"web: ./sample-dyno web\n", 0o644));
    let r = post_build(&api, &name, archive_of(&links)).await;
    assert!(r.status == 201 || r.status == 400, "{:?}", r.body);
    assert!(
        !std::path::Path::new("/tmp").join(&escape).exists(),
        "the archive wrote outside its slug"
    );
    let r = post_build(&api, &name, archive_of(&[Entry::Link("Procfile", "/etc/passwd")])).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(!r.body["message"].as_str().unwrap().contains("root:"), "{:?}", r.body);

    // Formation errors name the problem.
    push(&api, &name, sample_app(PROCFILE)).await;
    for (body, status, message) in [
        (
            json!({"updates": [{"type": "clock", "quantity": 1}]}),
            404,
            "no process type clock",
        ),
        (
            json!({"updates": [{"type": "web", "quantity": 1000}]}),
            422,
            "quantity of web must be 0 to",
        ),
        (
            json!({"updates": [{"type": "web", "size": "huge-9x"}]}),
            422,
            "unknown dyno size huge-9x",
        ),
        (json!({"updates": [{"quantity": 1}]}), 400, "needs a \"type\""),
        (json!({"updates": [{"type": "web"}]}), 400, "neither quantity nor size"),
        (json!({"updates": []}), 400, "at least one"),
        (
            json!({"updates": [{"type": "web", "quantity": 1, "colour": "red"}]}),
            400,
            "unknown field",
        ),
    ] {
        let r = api.patch(&format!("/apps/{name}/formation"), body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(
            r.body["message"].as_str().unwrap().contains(message),
            "{body}: {:?}",
            r.body
        );
    }
    // The batch with a bad entry changed nothing.
    let r = api
        .patch(
            &format!("/apps/{name}/formation"),
            json!({"updates": [{"type": "worker", "quantity": 3}, {"type": "nope", "quantity": 1}]}),
        )
        .await;
    assert_eq!(r.status, 404);
    let f = api.get(&format!("/apps/{name}/formation/worker")).await;
    assert_eq!(f.body["quantity"], 0);
    let f = api.get(&format!("/apps/{name}/formation/clock")).await;
    assert_eq!(f.status, 404, "{:?}", f.body);
    assert!(f.body["message"].as_str().unwrap().contains("no process type clock"));
    // Only the app's owner (or an admin) runs commands or reads logs.
    let bob = app.api("bob", broker::auth::Scope::Platform);
    for r in [
        bob.post(&format!("/apps/{name}/dynos"), json!({"command": "env"}))
            .await,
        bob.get(&format!("/apps/{name}/logs")).await,
        bob.get(&format!("/apps/{name}/builds")).await,
        bob.patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 2}))
            .await,
    ] {
        assert_eq!(r.status, 403, "{:?}", r.body);
    }
}

#[tokio::test]
async fn a_failing_release_phase_keeps_the_running_release() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let good = push(
        &api,
        &name,
        sample_app(&format!("{PROCFILE}release: echo migrating; echo done\n")),
    )
    .await;
    assert_eq!(good["status"], "succeeded", "{good}");
    assert!(good["output"].as_str().unwrap().contains("migrating"), "{good}");
    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    let web = list[0]["id"].clone();

    let bad = push(
        &api,
        &name,
        sample_app(&format!("{PROCFILE}release: echo cannot migrate; exit 4\n")),
    )
    .await;
    assert_eq!(bad["status"], "failed", "{bad}");
    assert!(bad["release"].is_null());
    let out = bad["output"].as_str().unwrap();
    assert!(out.contains("cannot migrate") && out.contains("exit status 4"), "{out}");
    // No new release; the same web dyno keeps running the old one.
    let releases = api.get(&format!("/apps/{name}/releases")).await.body;
    assert_eq!(releases.as_array().unwrap().len(), 2);
    assert!(releases[0]["slug"].is_null(), "{releases}");
    assert_eq!(releases[1]["slug"]["id"], good["slug"]["id"]);
    assert_eq!(
        releases[1]["description"].as_str().unwrap().len(),
        "Deploy 1234567".len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    assert_eq!(list[0]["id"], web);
    assert_eq!(list[0]["release"]["version"], 2);
    let builds = api.get(&format!("/apps/{name}/builds")).await.body;
    assert_eq!(builds.as_array().unwrap().len(), 2);
    let slug = api
        .get(&format!("/apps/{name}/slugs/{}", good["slug"]["id"].as_str().unwrap()))
        .await;
    assert_eq!(slug.status, 200);
    assert_eq!(slug.body["process_types"]["web"], "./sample-dyno web");
}

#[tokio::test]
async fn a_dyno_that_ran_longer_than_the_longest_delay_restarts_without_accumulated_backoff() {
    let app = TestApp::spawn_with(Options {
        backoff_initial_ms: 200,
        backoff_max_ms: 600,
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    // Runs 0.8 s (longer than the 600 ms longest delay), then fails; and one that fails at once.
    push(
        &api,
        &name,
        sample_app("web: ./sample-dyno web\nflaky: sleep 0.8; exit 1\nbroken: exit 1\n"),
    )
    .await;
    scale(
        &api,
        &name,
        json!([{"type": "web", "quantity": 0}, {"type": "flaky", "quantity": 1}, {"type": "broken", "quantity": 1}]),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let flaky = logs(&api, &name, "dyno=flaky.1&source=broker").await;
        let broken = logs(&api, &name, "dyno=broken.1&source=broker").await;
        if flaky.matches("restart 1 in 200 ms").count() >= 3 && broken.contains("restart 3 in 600 ms") {
            // The quick crasher climbs the backoff (200, 400, 600 ms); the one that ran long
            // enough starts again from the first delay every time.
            assert!(!flaky.contains("restart 2"), "{flaky}");
            assert!(broken.contains("restart 2 in 400 ms"), "{broken}");
            break;
        }
        assert!(Instant::now() < deadline, "flaky:\n{flaky}\nbroken:\n{broken}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn deleting_an_app_stops_its_dynos_and_its_slugs_are_collected() {
    let mut app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = push(&api, &name, sample_app(PROCFILE)).await;
    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    let port = list[0]["port"].as_u64().unwrap();
    let slug = app.dir().join("slugs").join(build["slug"]["id"].as_str().unwrap());
    assert!(slug.join("sample-dyno").exists());

    let r = api.delete(&format!("/apps/{name}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The dyno of the deleted app stops; nothing runs.
    assert_eq!(app.runtime_running().await, 0);
    assert!(ask(port, "/").await.is_none());
    // Its slug has no row any more; once old enough (aged by hand here), the next collection
    // (at start, then every ten minutes) removes it.
    assert!(slug.exists());
    let day_ago = std::time::SystemTime::now() - Duration::from_secs(86_400);
    std::fs::File::open(&slug).unwrap().set_modified(day_ago).unwrap();
    app.kill();
    app.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    while slug.exists() {
        assert!(
            Instant::now() < deadline,
            "the orphaned slug {} is still there",
            slug.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn without_a_runtime_builds_still_work_and_dyno_requests_are_422() {
    let app = TestApp::spawn_with(Options {
        runtime_backend: "none",
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = push(&api, &name, sample_app(PROCFILE)).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    // A release phase needs a runtime: the build fails (not left pending), with the reason.
    let build = push(&api, &name, sample_app(&format!("{PROCFILE}release: true\n"))).await;
    assert_eq!(build["status"], "failed", "{build}");
    assert!(build["output"].as_str().unwrap().contains("runs no dynos"), "{build}");
    assert_eq!(release_count(&api, &name).await, 2);
    for r in [
        api.patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 2}))
            .await,
        api.post(&format!("/apps/{name}/dynos"), json!({"command": "true"}))
            .await,
        api.get(&format!("/apps/{name}/dynos")).await,
    ] {
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(
            r.body["message"].as_str().unwrap().contains("runs no dynos"),
            "{:?}",
            r.body
        );
    }
}
