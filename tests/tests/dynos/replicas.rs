//! Two brokers on one state store and one runtime: exactly one supervises the dynos (the
//! holder of the runtime's lease); the other serves the API and sends dyno requests on to it.
//! When the holder is killed, the other takes the lease over once it lapses, adopts the
//! dynos that run (none doubled, none lost) and supervises from then on.

use super::*;

#[tokio::test]
async fn one_of_two_replicas_supervises_and_the_other_takes_over_when_it_dies() {
    let shared = tempfile::Builder::new()
        .prefix("addon-broker-shared-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(shared.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
    let mut first = TestApp::spawn_with(Options {
        runtime_lease_ms: 2_000,
        shared_runtime: Some(shared.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    let api = first.platform();
    let name = api.create_app().await;
    push(&api, &name, sample_app("web: ./sample-dyno web\n")).await;
    scale(&api, &name, json!([{"type": "web", "quantity": 2}])).await;
    let list = wait_dynos(&api, &name, "web=2", |l| up(l, "web").len() == 2).await;
    let before = ids(&list, "web");

    let second = first.replica();
    let api2 = second.platform();
    // The second replica serves the API, leaves the dynos to the first, and sends dyno
    // requests there: the same dynos, the supervisor's logs.
    assert_eq!(api2.get(&format!("/apps/{name}")).await.status, 200);
    let r = api2.get(&format!("/apps/{name}/dynos")).await.expect(200);
    assert_eq!(ids(r.body.as_array().unwrap(), "web"), before);
    assert!(logs(&api2, &name, "")
        .await
        .contains("State changed from starting to up"));
    // Rounds of both supervision loops (the lease is renewed every ~0.7 s) change nothing.
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        let list = api.get(&format!("/apps/{name}/dynos")).await.body;
        let list = list.as_array().unwrap();
        assert_eq!(
            ids(list, "web"),
            before,
            "the dynos changed while one broker supervised"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The supervisor dies; its dynos run on. The replica takes over and adopts them.
    first.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    let list = loop {
        let r = api2.get(&format!("/apps/{name}/dynos")).await;
        if r.status == 200 && up(r.body.as_array().unwrap(), "web").len() == 2 {
            break r.body.as_array().unwrap().clone();
        }
        // 503 until the lease lapses (its holder is gone); then 200, the adopted dynos
        // `starting` until the new supervisor has seen them accept.
        assert!(r.status == 503 || r.status == 200, "{}: {}", r.status, r.body);
        assert!(Instant::now() < deadline, "the replica never took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        ids(&list, "web"),
        before,
        "the dynos were restarted or doubled on takeover"
    );
    for port in ports(&list, "web").values() {
        assert!(ask(*port, "/").await.is_some(), "an adopted web dyno does not answer");
    }

    // It supervises from now on: scaling up starts exactly one more.
    scale(&api2, &name, json!([{"type": "web", "quantity": 3}])).await;
    let list = wait_dynos(&api2, &name, "web=3", |l| up(l, "web").len() == 3).await;
    let after = ids(&list, "web");
    assert_eq!(after.len(), 3);
    assert!(
        before.iter().all(|(k, v)| after.get(k) == Some(v)),
        "{before:?} → {after:?}"
    );
    let log = std::fs::read_to_string(second.log_path()).unwrap();
    assert!(log.contains("supervising the runtime's dynos"), "{log}");
}
