//! Builds: archives to slugs and releases, bad archives, the release phase, no runtime.

use super::*;

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
    // Only people with access to the app run commands or read logs: to anyone else the app
    // does not exist.
    let bob = app.api("bob", broker::auth::Scope::Platform);
    for r in [
        bob.post(&format!("/apps/{name}/dynos"), json!({"command": "env"}))
            .await,
        bob.get(&format!("/apps/{name}/logs")).await,
        bob.get(&format!("/apps/{name}/builds")).await,
        bob.patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 2}))
            .await,
    ] {
        assert_eq!(r.status, 404, "{:?}", r.body);
        assert_eq!(r.body["message"], format!("app {name} does not exist"));
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
async fn without_a_runtime_builds_and_dyno_requests_are_422() {
    let app = TestApp::spawn_with(Options {
        runtime_backend: "none",
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    // Buildpacks run the app's own code, so only ever in the dyno sandbox: no build, no row.
    let r = post_build(&api, &name, sample_app(PROCFILE)).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains("runs no dynos"),
        "{:?}",
        r.body
    );
    let builds = api.get(&format!("/apps/{name}/builds")).await;
    assert_eq!(builds.body, json!([]));
    assert_eq!(release_count(&api, &name).await, 1);
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
