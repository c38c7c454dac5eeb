//! The release rules: the release phase before every new release (config change, rollback,
//! add-on), what a failing one keeps running, rollbacks to releases without code, scaling
//! before a build, logs of a dyno that does not exist.

use super::*;

/// Polls release `version` of the app until its release phase is over; returns it.
async fn settled(api: &addon_broker_tests::Api, app: &str, version: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = api.get(&format!("/apps/{app}/releases/{version}")).await.expect(200);
        if r.body["status"] != "pending" {
            return r.body;
        }
        assert!(Instant::now() < deadline, "v{version} is still pending: {}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Procfile whose release phase is a migration: with no `DATABASE_URL` there is nothing to
/// migrate; with one, it creates a table and records each run in it, with a real client.
const MIGRATING: &str = "release: if [ -z \"$DATABASE_URL\" ]; then echo no database yet; exit 0; fi; \
psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -q \
-c 'CREATE TABLE IF NOT EXISTS migrated (dyno text, foo text)' \
-c \"INSERT INTO migrated VALUES ('$DYNO', '$FOO')\" && echo migrated with $DYNO\n";

#[tokio::test]
async fn the_release_phase_migrates_with_database_url_on_addon_config_and_rollback_releases() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = push(&api, &name, sample_app(&format!("{PROCFILE}{MIGRATING}"))).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    assert!(build["output"].as_str().unwrap().contains("no database yet"), "{build}");
    wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;

    // Creating a PostgreSQL add-on writes a release with DATABASE_URL: its release phase runs
    // with that URL before the dynos move onto it.
    let r = api
        .post(&format!("/apps/{name}/addons"), json!({ "plan": "postgresql:shared" }))
        .await
        .expect(201);
    assert_eq!(r.body["state"], "provisioned", "{:?}", r.body);
    let v3 = settled(&api, &name, 3).await;
    assert_eq!(v3["status"], "succeeded", "{v3}");
    assert_eq!(v3["current"], true, "{v3}");
    assert!(
        v3["description"].as_str().unwrap().starts_with("Attach DATABASE"),
        "{v3}"
    );
    let url = api.config(&name).await["DATABASE_URL"].as_str().unwrap().to_string();
    let db = connect_with_uri(&url).await.expect("DATABASE_URL works");
    let runs = |rows: Vec<tokio_postgres::Row>| -> Vec<(String, String)> {
        rows.iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect()
    };
    let rows = db.query("SELECT dyno, foo FROM migrated", &[]).await.unwrap();
    assert_eq!(runs(rows), [("release.3".to_string(), String::new())]);
    wait_log(&api, &name, "dyno=release.3", "app[release.3]: migrated with release.3").await;
    // The web dyno then runs v3, with the URL.
    let list = wait_dynos(&api, &name, "web.1 on v3", |l| {
        up(l, "web").len() == 1 && up(l, "web")[0]["release"]["version"] == 3
    })
    .await;
    let me = ask(list[0]["port"].as_u64().unwrap(), "/").await.unwrap();
    assert_eq!(me["env"]["DATABASE_URL"], url.as_str());

    // A config change: the phase runs with the new release's config.
    api.patch(&format!("/apps/{name}/config-vars"), json!({ "FOO": "bar" }))
        .await
        .expect(200);
    let v4 = settled(&api, &name, 4).await;
    assert_eq!(v4["status"], "succeeded", "{v4}");
    let rows = db
        .query("SELECT dyno, foo FROM migrated ORDER BY dyno", &[])
        .await
        .unwrap();
    assert_eq!(
        runs(rows),
        [
            ("release.3".to_string(), String::new()),
            ("release.4".to_string(), "bar".to_string())
        ]
    );

    // A rollback (to v3: no FOO) is a new release with a release phase too.
    let r = api
        .post(&format!("/apps/{name}/releases"), json!({ "release": 3 }))
        .await
        .expect(201);
    assert_eq!(r.body["version"], 5);
    let v5 = settled(&api, &name, 5).await;
    assert_eq!(v5["status"], "succeeded", "{v5}");
    assert_eq!(v5["current"], true, "{v5}");
    let rows = db
        .query("SELECT foo FROM migrated WHERE dyno = 'release.5'", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "");
    assert!(
        !api.config(&name).await.contains_key("FOO"),
        "the rollback restored v3's config"
    );
    let releases = api.releases(&name).await;
    assert_eq!(releases.iter().filter(|r| r["current"] == true).count(), 1);
}

#[tokio::test]
async fn a_failing_release_phase_on_a_config_change_keeps_the_previous_release_running() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let procfile = format!(
        "{PROCFILE}release: if [ \"$MIGRATE\" = fail ]; then echo cannot migrate $MARK; exit 3; fi; echo migrated\n"
    );
    let build = push(&api, &name, sample_app(&procfile)).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    let (web, port) = (list[0]["id"].clone(), list[0]["port"].as_u64().unwrap());

    api.patch(
        &format!("/apps/{name}/config-vars"),
        json!({ "MIGRATE": "fail", "MARK": "new" }),
    )
    .await
    .expect(200);
    let v3 = settled(&api, &name, 3).await;
    assert_eq!(v3["status"], "failed", "{v3}");
    assert_eq!(v3["current"], false, "{v3}");
    let v2 = api.get(&format!("/apps/{name}/releases/2")).await.expect(200).body;
    assert_eq!(v2["current"], true, "{v2}");
    // It says so, in the app's logs: the phase's own output and the verdict.
    wait_log(&api, &name, "dyno=release.3", "app[release.3]: cannot migrate new").await;
    let log = wait_log(&api, &name, "dyno=release.3", "v3 is marked failed").await;
    assert!(log.contains("exit status 3"), "{log}");
    assert!(log.contains("the previous release (v2) keeps running"), "{log}");
    // The same web dyno runs v2, with the old config.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    assert_eq!(list[0]["id"], web);
    assert_eq!(list[0]["release"]["version"], 2);
    let me = ask(port, "/").await.expect("web.1 still answers");
    assert!(me["env"].get("MARK").is_none(), "{me}");
    // One-off runs use the current release too.
    let run = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({ "command": "echo mark=$MARK", "attach": true }),
        )
        .await
        .expect(201);
    assert_eq!(run.body["output"], "mark=\n", "{:?}", run.body);

    // Fixing the config makes a release that passes; the dynos move onto it.
    api.patch(&format!("/apps/{name}/config-vars"), json!({ "MIGRATE": null }))
        .await
        .expect(200);
    let v4 = settled(&api, &name, 4).await;
    assert_eq!(v4["status"], "succeeded", "{v4}");
    let list = wait_dynos(&api, &name, "web.1 on v4", |l| {
        up(l, "web").len() == 1 && up(l, "web")[0]["release"]["version"] == 4
    })
    .await;
    let me = ask(list[0]["port"].as_u64().unwrap(), "/").await.unwrap();
    assert_eq!(me["env"]["MARK"], "new", "{me}");
}

#[tokio::test]
async fn a_first_build_whose_release_phase_fails_claims_nothing_keeps_running() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let build = push(
        &api,
        &name,
        sample_app(&format!("{PROCFILE}release: echo first migration broke; exit 4\n")),
    )
    .await;
    assert_eq!(build["status"], "failed", "{build}");
    let out = build["output"].as_str().unwrap();
    assert!(
        out.contains("first migration broke") && out.contains("exit status 4"),
        "{out}"
    );
    assert!(!out.contains("keeps running"), "{out}");
    assert!(out.contains("no release runs"), "{out}");
    // The output is in the app's logs too.
    wait_log(&api, &name, "dyno=release.2", "app[release.2]: first migration broke").await;
    assert_eq!(release_count(&api, &name).await, 1);
}

#[tokio::test]
async fn rolling_back_to_a_release_without_code_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    api.patch(&format!("/apps/{name}/config-vars"), json!({ "A": "1" }))
        .await
        .expect(200);
    let build = push(&api, &name, sample_app(PROCFILE)).await;
    assert_eq!(build["release"]["version"], 3, "{build}");
    wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    for target in ["1", "v2"] {
        let r = api
            .post(&format!("/apps/{name}/releases"), json!({ "release": target }))
            .await
            .expect(422);
        let v = target.trim_start_matches('v');
        assert_eq!(
            r.message(),
            format!(
                "release v{v} has no code: it was made before the first build; roll back to a release that has one"
            )
        );
    }
    assert_eq!(release_count(&api, &name).await, 3);
    let list = wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    assert_eq!(list[0]["release"]["version"], 3);
    // A release with code is fine.
    let r = api
        .post(&format!("/apps/{name}/releases"), json!({ "release": 3 }))
        .await
        .expect(201);
    assert_eq!(r.body["status"], "succeeded");
    assert_eq!(r.body["current"], true);
}

#[tokio::test]
async fn scaling_before_a_build_and_logs_of_a_missing_dyno_say_what_there_is() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let no_build = format!("app {name} has no build yet: deploy code before scaling");
    let r = api
        .patch(&format!("/apps/{name}/formation/web"), json!({ "quantity": 1 }))
        .await
        .expect(422);
    assert_eq!(r.message(), no_build);
    let r = api
        .patch(
            &format!("/apps/{name}/formation"),
            json!({ "updates": [{ "type": "web", "quantity": 2 }] }),
        )
        .await
        .expect(422);
    assert_eq!(r.message(), no_build);
    let r = api.get(&format!("/apps/{name}/logs?dyno=web.3")).await.expect(404);
    assert_eq!(r.message(), format!("no dyno web.3 on app {name}; it has no dynos"));

    push(&api, &name, sample_app(PROCFILE)).await;
    scale(&api, &name, json!([{ "type": "worker", "quantity": 1 }])).await;
    wait_dynos(&api, &name, "web.1 and worker.1 up", |l| {
        up(l, "web").len() == 1 && up(l, "worker").len() == 1
    })
    .await;
    let r = api.get(&format!("/apps/{name}/logs?dyno=web.3")).await.expect(404);
    assert_eq!(
        r.message(),
        format!("no dyno web.3 on app {name}; its dynos are web.1, worker.1")
    );
    for found in ["web.1", "web", "worker"] {
        api.get(&format!("/apps/{name}/logs?dyno={found}")).await.expect(200);
    }
}

#[tokio::test]
async fn a_release_phase_running_when_the_broker_dies_is_resumed_not_repeated() {
    use runtime::Runtime;
    let mut app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    // With GATE set, the phase waits until the test creates table `gate`, then records its run.
    let procfile = format!(
        "{PROCFILE}release: [ -z \"$GATE\" ] && exit 0; \
until psql \"$DATABASE_URL\" -tAc 'SELECT 1 FROM gate' 2>/dev/null | grep -q 1; do sleep 0.05; done; \
psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -qc 'INSERT INTO runs VALUES (1)' && echo gate passed\n"
    );
    let build = push(&api, &name, sample_app(&procfile)).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    api.post(&format!("/apps/{name}/addons"), json!({ "plan": "postgresql:shared" }))
        .await
        .expect(201);
    assert_eq!(settled(&api, &name, 3).await["status"], "succeeded");
    let url = api.config(&name).await["DATABASE_URL"].as_str().unwrap().to_string();
    let db = connect_with_uri(&url).await.unwrap();
    db.batch_execute("CREATE TABLE runs (n int)").await.unwrap();

    api.patch(&format!("/apps/{name}/config-vars"), json!({ "GATE": "1" }))
        .await
        .expect(200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = app.runtime().list().await.unwrap();
        if list
            .iter()
            .any(|c| c.running() && c.labels.get("dyno").map(String::as_str) == Some("release.4"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "release.4 never started: {list:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.kill();
    // The phase goes on without a broker; its release is still pending in the store.
    db.batch_execute("CREATE TABLE gate (x int); INSERT INTO gate VALUES (1)")
        .await
        .unwrap();
    app.start();
    let api = app.platform();
    let v4 = settled(&api, &name, 4).await;
    assert_eq!(v4["status"], "succeeded", "{v4}");
    assert_eq!(v4["current"], true, "{v4}");
    wait_log(&api, &name, "dyno=release.4", "app[release.4]: gate passed").await;
    let runs: i64 = db.query_one("SELECT count(*) FROM runs", &[]).await.unwrap().get(0);
    assert_eq!(runs, 1, "the phase was adopted, not run a second time");
    wait_dynos(&api, &name, "web.1 on v4", |l| {
        up(l, "web").len() == 1 && up(l, "web")[0]["release"]["version"] == 4
    })
    .await;
}
