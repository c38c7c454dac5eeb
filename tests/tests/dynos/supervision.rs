//! Supervision: rollouts, crashes and backoff, adoption after a restart, deleted apps.

use super::*;

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
