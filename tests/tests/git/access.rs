//! Who may fetch and push: the platform token as the Basic password (401 with a challenge
//! without one, or with a bad one), access as the API decides it (a stranger's 404 is the 404
//! of a missing app; a collaborator gets through), hostile paths never leave the repositories,
//! and a deleted app's repository is collected.

use std::time::{Duration, Instant};

use addon_broker_tests::git::{raw_get, remote_url, repository_dir, Repo};
use addon_broker_tests::TestApp;
use broker::auth::Scope;
use serde_json::json;

use super::procfile;

#[tokio::test]
async fn git_needs_a_platform_token_and_access_to_the_app_like_the_api() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let name = alice.create_app().await;
    let refs = format!("/apps/{name}.git/info/refs?service=git-upload-pack");
    let http = addon_broker_tests::api::http_client();

    // No credentials, or a bad token: 401 with the challenge git answers with its helper.
    let bare = http.get(format!("{}{refs}", app.url)).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(bare.headers()["www-authenticate"], "Basic realm=\"broker\"");
    let bad = http
        .get(format!("{}{refs}", app.url))
        .basic_auth("broker", Some("not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.headers()["www-authenticate"], "Basic realm=\"broker\"");

    // A stranger: exactly the 404 of an app that does not exist.
    let mallory = app.token("mallory", Scope::Platform);
    let theirs = http
        .get(format!("{}{refs}", app.url))
        .basic_auth("anyone", Some(&mallory))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
    let theirs: serde_json::Value = theirs.json().await.unwrap();
    let missing = http
        .get(format!(
            "{}/apps/no-such-app.git/info/refs?service=git-upload-pack",
            app.url
        ))
        .basic_auth("anyone", Some(&mallory))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(theirs["id"], missing["id"]);
    assert_eq!(theirs["message"], format!("app {name} does not exist"));
    assert_eq!(missing["message"], "app no-such-app does not exist");

    // With git: the owner pushes; a stranger can neither push nor fetch; a bad token and no
    // token are refused; a collaborator fetches and pushes.
    let repo = Repo::new();
    repo.sample(&procfile("alice"));
    let first = repo.commit("first", &[]);
    let owner = remote_url(&app.url, &name, &app.token("alice", Scope::Platform));
    let out = repo.git(&["push", &owner, "main"]).await;
    assert_eq!(out.code, 0, "git push: {}", out.stderr);

    repo.write("more.txt", "more\n");
    repo.commit("second", &[]);
    for (who, url, says) in [
        ("a stranger", remote_url(&app.url, &name, &mallory), "not found"),
        (
            "a bad token",
            remote_url(&app.url, &name, "not-a-token"),
            "Authentication failed",
        ),
        (
            "no token",
            format!("{}/apps/{name}.git", app.url),
            "could not read Username",
        ),
    ] {
        let push = repo.git(&["push", &url, "main"]).await;
        assert_ne!(push.code, 0, "{who} pushed: {}", push.stderr);
        assert!(push.stderr.contains(says), "{who}: {}", push.stderr);
        let fetch = repo.git(&["ls-remote", &url]).await;
        assert_ne!(fetch.code, 0, "{who} fetched: {}", fetch.stdout);
    }
    assert_eq!(
        repo.remote_ref(&owner, "refs/heads/main").await.as_deref(),
        Some(first.as_str())
    );
    let log = std::fs::read_to_string(app.log_path()).unwrap();
    assert!(!log.contains(&mallory), "a token in the broker's log");

    alice
        .post(&format!("/apps/{name}/collaborators"), json!({ "user": "bob" }))
        .await
        .expect(201);
    let bob = remote_url(&app.url, &name, &app.token("bob", Scope::Platform));
    assert_eq!(
        repo.remote_ref(&bob, "refs/heads/main").await.as_deref(),
        Some(first.as_str())
    );
    let push = repo.git(&["push", &bob, "main"]).await;
    assert_eq!(push.code, 0, "the collaborator's push: {}", push.stderr);
    assert!(push.stderr.contains("remote: -----> Released v3"), "{}", push.stderr);
}

#[tokio::test]
async fn hostile_app_names_and_paths_never_leave_the_repositories() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let name = alice.create_app().await;
    let token = app.token("alice", Scope::Platform);
    let id = alice.get(&format!("/apps/{name}")).await.expect(200).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The app's own repository is there once git has asked for it.
    let (status, _) = raw_get(
        &app.url,
        &format!("/apps/{name}.git/info/refs?service=git-upload-pack"),
        Some(&token),
    );
    assert_eq!(status, 200);
    assert!(repository_dir(app.dir(), &id).join("HEAD").is_file());

    let hostile = [
        "/apps/../x.git/info/refs?service=git-upload-pack".to_string(),
        "/apps/%2e%2e.git/info/refs?service=git-upload-pack".to_string(),
        "/apps/..%2f..%2fetc.git/info/refs?service=git-upload-pack".to_string(),
        format!("/apps/{id}%2f..%2f..%2fetc.git/info/refs?service=git-upload-pack"),
        format!("/apps/{name}.git/../../etc/passwd"),
        format!("/apps/{name}.git/..%2f..%2f..%2fetc%2fpasswd"),
        format!("/apps/{name}.git/%2e%2e/%2e%2e/config"),
        format!("/apps/{name}.git/info/refs/../../../../etc/passwd"),
        format!("/apps/{name}.git/HEAD"),
        format!("/apps/{name}.git/config"),
        format!("/apps/{name}.git/objects/info/packs"),
        format!("/apps/{name}.git/info/refs?service=../../etc/passwd"),
        format!("/apps/{name}.git/info/refs"),
    ];
    for path in &hostile {
        let (status, text) = raw_get(&app.url, path, Some(&token));
        assert!((400..500).contains(&status), "{path}: {status}\n{text}");
        assert!(!text.contains("root:"), "{path} leaked /etc/passwd: {text}");
        assert!(!text.contains("[core]"), "{path} leaked a git config: {text}");
    }
    // Nothing but the app's repository was made.
    let names: Vec<String> = std::fs::read_dir(app.dir().join("repos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [format!("{id}.git")]);
}

#[tokio::test]
async fn a_deleted_apps_repository_is_collected() {
    let app = TestApp::spawn().await;
    let alice = app.api("alice", Scope::Platform);
    let name = alice.create_app().await;
    let id = alice.get(&format!("/apps/{name}")).await.expect(200).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let repo = Repo::new();
    let url = remote_url(&app.url, &name, &app.token("alice", Scope::Platform));
    let listed = repo.git(&["ls-remote", &url]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let dir = repository_dir(app.dir(), &id);
    assert!(dir.join("HEAD").is_file(), "made on first use");

    alice.delete(&format!("/apps/{name}?confirm={name}")).await.expect(200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while dir.exists() {
        assert!(Instant::now() < deadline, "{} is still there", dir.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
