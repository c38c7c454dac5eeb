//! `deploy`: the directory packed as `.gitignore` and `.slugignore` say, the build's output
//! (with the release phase's lines) streamed, the web dynos waited for; a failing release phase
//! is one line and a non-zero exit, and the previous release keeps running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use addon_broker_tests::dynos::sample_binary;
use addon_broker_tests::{CliUser, TestApp};
use serde_json::json;

/// Writes `text` at `dir/rel`, creating its directory.
fn put(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The sample app's source in `dir`, with files that the ignore files leave out.
fn source(dir: &Path, release: &str) {
    put(
        dir,
        "Procfile",
        &format!("web: ./sample-dyno web\nrelease: {release}\n"),
    );
    let bin = dir.join("sample-dyno");
    std::fs::copy(sample_binary(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    put(dir, "keep.txt", "kept\n");
    put(dir, "sub/shared.txt", "kept\n");
    put(dir, ".gitignore", "*.log\n");
    put(dir, "debug.log", "ignored by .gitignore\n");
    put(dir, "sub/.gitignore", "local.txt\n");
    put(dir, "sub/local.txt", "ignored by sub/.gitignore\n");
    put(dir, ".slugignore", "docs/\n");
    put(dir, "docs/manual.md", "ignored by .slugignore\n");
    put(dir, ".git/HEAD", "ref: refs/heads/main\n");
}

#[tokio::test]
async fn deploy_ships_what_the_ignore_files_leave_streams_the_release_phase_and_waits_for_web() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let api = app.api("alice", broker::auth::Scope::Platform);
    let name = api.create_app().await;
    std::fs::write(alice.cwd().join(".broker-app"), format!("{name}\n")).unwrap();
    source(alice.cwd(), "echo migrating-the-database");

    let out = alice.run(&["deploy"]).await;
    let text = out.ok();
    assert!(
        text.contains("-----> Running the release phase: echo migrating-the-database"),
        "{text}"
    );
    assert!(text.contains("\nmigrating-the-database\n"), "{text}");
    assert!(text.contains("-----> Released v2\n"), "{text}");
    assert!(
        text.contains(&format!("Released v2 on {name}: 1 web dyno up")),
        "{text}"
    );
    // It waited: web.1 runs v2 and is up the moment deploy returns.
    let dynos = api.get(&format!("/apps/{name}/dynos")).await.expect(200).body;
    let web: Vec<_> = dynos
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == "web")
        .collect();
    assert_eq!(web.len(), 1, "{dynos}");
    assert_eq!(web[0]["state"], "up", "{dynos}");
    assert_eq!(web[0]["release"]["version"], 2, "{dynos}");

    // The slug holds what the ignore files leave, and nothing they name.
    let run = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({ "command": "find . -mindepth 1 | sort", "attach": true }),
        )
        .await
        .expect(201)
        .body;
    let files: Vec<&str> = run["output"].as_str().unwrap().lines().collect();
    for kept in [
        "./Procfile",
        "./sample-dyno",
        "./keep.txt",
        "./sub/shared.txt",
        "./.gitignore",
        "./.slugignore",
    ] {
        assert!(files.contains(&kept), "{kept} missing: {files:?}");
    }
    for gone in ["./debug.log", "./sub/local.txt", "./docs", "./docs/manual.md", "./.git"] {
        assert!(!files.contains(&gone), "{gone} shipped: {files:?}");
    }

    // A failing release phase: one line, non-zero, and v2 keeps running.
    source(alice.cwd(), "echo cannot-migrate; exit 4");
    let bad = alice.run(&["deploy"]).await;
    let line = bad.fails();
    assert!(
        line.contains("the build failed") && line.contains("exit status 4"),
        "{line}"
    );
    assert!(line.contains("v2"), "{line}");
    assert!(bad.stdout.contains("cannot-migrate"), "{}", bad.stdout);
    let releases = alice.run(&["releases", "--json"]).await.json();
    let current: Vec<_> = releases
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["current"] == true)
        .collect();
    assert_eq!(current[0]["version"], 2, "{releases}");

    // --json: the final build on stdout, the output on stderr.
    source(alice.cwd(), "true");
    let build = alice.run(&["deploy", "--json"]).await.json();
    assert_eq!(build["status"], "succeeded", "{build}");
    assert_eq!(build["release"]["version"], 3, "{build}");
}

#[tokio::test]
async fn deploy_outside_an_app_or_of_a_missing_directory_says_what_to_do() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let no_app = alice.run(&["deploy"]).await;
    assert!(no_app.fails().contains("--app"), "{}", no_app.stderr);
    let api = app.api("alice", broker::auth::Scope::Platform);
    let name = api.create_app().await;
    let missing = alice.run(&["deploy", "-a", &name, "--dir", "no-such-dir"]).await;
    assert!(missing.fails().contains("is not a directory"), "{}", missing.stderr);
    // A directory no buildpack detects: a failed build, its reason in one line, no release.
    put(alice.cwd(), "readme.txt", "hello\n");
    let bare = alice.run(&["deploy", "-a", &name]).await;
    assert!(
        bare.fails().contains("no buildpack detected the app"),
        "{}",
        bare.stderr
    );
    let builds = api.get(&format!("/apps/{name}/builds")).await.expect(200).body;
    assert_eq!(builds[0]["status"], "failed", "{builds}");
    let releases = api.get(&format!("/apps/{name}/releases")).await.expect(200).body;
    assert_eq!(releases.as_array().unwrap().len(), 1, "{releases}");
}
