//! A push of main builds, releases and serves; a failed build refuses the push and leaves the
//! old release running; only the pushed tree is built; a force push of an older commit builds
//! it again; other branches are kept without a build.

use addon_broker_tests::git::{remote_url, Repo};
use addon_broker_tests::TestApp;
use broker::auth::Scope;
use serde_json::json;

use super::{current_version, mark_of, procfile, web_on};

#[tokio::test]
async fn a_push_of_main_builds_releases_and_serves_it() {
    let app = TestApp::spawn().await;
    let api = app.api("alice", Scope::Platform);
    let name = api.create_app().await;
    let url = remote_url(&app.url, &name, &app.token("alice", Scope::Platform));
    let repo = Repo::new();
    repo.sample(&procfile("first"));
    let commit = repo.commit("first", &[]);

    let out = repo.git(&["push", &url, "main"]).await;
    assert_eq!(out.code, 0, "git push: {}", out.stderr);
    assert!(out.stderr.contains("remote: -----> Building"), "{}", out.stderr);
    assert!(
        out.stderr.contains("remote: -----> Process types: web"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("remote: -----> Released v2"), "{}", out.stderr);
    assert_eq!(
        repo.remote_ref(&url, "refs/heads/main").await.as_deref(),
        Some(commit.as_str())
    );
    let port = web_on(&api, &name, 2).await;
    assert_eq!(mark_of(port).await, "first");

    // Another branch is kept, with a note, and builds nothing.
    repo.git(&["checkout", "--quiet", "-b", "feature"]).await;
    repo.sample(&procfile("feature"));
    let feature = repo.commit("feature", &[]);
    let out = repo.git(&["push", &url, "feature"]).await;
    assert_eq!(out.code, 0, "git push feature: {}", out.stderr);
    assert!(
        out.stderr
            .contains("remote: -----> feature: pushed, not deployed (only a push of main or master deploys)"),
        "{}",
        out.stderr
    );
    assert_eq!(
        repo.remote_ref(&url, "refs/heads/feature").await.as_deref(),
        Some(feature.as_str())
    );
    assert_eq!(current_version(&api, &name).await, 2);
    let builds = api.get(&format!("/apps/{name}/builds")).await.expect(200).body;
    assert_eq!(builds.as_array().unwrap().len(), 1, "{builds}");

    // A fetch of the remote gives back what was pushed.
    let clone = Repo::new();
    let fetched = clone.git(&["fetch", "--quiet", &url, "main"]).await;
    assert_eq!(fetched.code, 0, "{}", fetched.stderr);
    let head = clone.git(&["rev-parse", "FETCH_HEAD"]).await;
    assert_eq!(head.stdout.trim(), commit);
}

#[tokio::test]
async fn a_failing_build_refuses_the_push_and_the_old_release_keeps_running() {
    let app = TestApp::spawn().await;
    let api = app.api("alice", Scope::Platform);
    let name = api.create_app().await;
    let url = remote_url(&app.url, &name, &app.token("alice", Scope::Platform));
    let repo = Repo::new();
    repo.sample(&procfile("good"));
    let good = repo.commit("good", &[]);
    let out = repo.git(&["push", &url, "main"]).await;
    assert_eq!(out.code, 0, "git push: {}", out.stderr);
    let port = web_on(&api, &name, 2).await;

    // A release phase that fails: the build fails, git refuses the push, main stays.
    repo.write(
        "Procfile",
        "web: MARK=bad ./sample-dyno web\nrelease: echo cannot-migrate; exit 3\n",
    );
    repo.commit("bad release phase", &[]);
    let out = repo.git(&["push", &url, "main"]).await;
    assert_ne!(out.code, 0, "the push was refused: {}", out.stderr);
    assert!(out.stderr.contains("remote: cannot-migrate"), "{}", out.stderr);
    assert!(out.stderr.contains("the build failed"), "{}", out.stderr);
    assert!(out.stderr.contains("exit status 3"), "{}", out.stderr);
    assert!(out.stderr.contains("pre-receive hook declined"), "{}", out.stderr);
    assert_eq!(
        repo.remote_ref(&url, "refs/heads/main").await.as_deref(),
        Some(good.as_str())
    );
    assert_eq!(current_version(&api, &name).await, 2);
    assert_eq!(mark_of(port).await, "good", "v2 still serves");

    // No Procfile (nor anything a buildpack detects): a failed build, and again nothing moves.
    repo.remove("Procfile");
    repo.commit("no Procfile", &[]);
    let out = repo.git(&["push", &url, "main"]).await;
    assert_ne!(out.code, 0, "the push was refused: {}", out.stderr);
    assert!(out.stderr.contains("no buildpack detected the app"), "{}", out.stderr);
    assert_eq!(
        repo.remote_ref(&url, "refs/heads/main").await.as_deref(),
        Some(good.as_str())
    );
    assert_eq!(current_version(&api, &name).await, 2);
    let builds = api.get(&format!("/apps/{name}/builds")).await.expect(200).body;
    let statuses: Vec<&str> = builds
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded", "failed", "failed"], "{builds}");
}

#[tokio::test]
async fn only_the_pushed_tree_is_built_and_a_force_push_of_an_older_commit_builds_it_again() {
    let app = TestApp::spawn().await;
    let api = app.api("alice", Scope::Platform);
    let name = api.create_app().await;
    let url = remote_url(&app.url, &name, &app.token("alice", Scope::Platform));
    let repo = Repo::new();
    repo.sample(&procfile("one"));
    let one = repo.commit("one", &[]);
    repo.write("untracked.txt", "never committed\n");
    repo.write("tracked.txt", "committed later\n");

    let out = repo.git(&["push", &url, "main"]).await;
    assert_eq!(out.code, 0, "git push: {}", out.stderr);
    assert_eq!(mark_of(web_on(&api, &name, 2).await).await, "one");
    let run = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({
                "command": "for f in Procfile sample-dyno untracked.txt tracked.txt; do if test -e $f; then echo has-$f; else echo lacks-$f; fi; done",
                "attach": true
            }),
        )
        .await
        .expect(201)
        .body;
    let output = run["output"].as_str().unwrap();
    for line in [
        "has-Procfile",
        "has-sample-dyno",
        "lacks-untracked.txt",
        "lacks-tracked.txt",
    ] {
        assert!(output.contains(line), "{line}: {output}");
    }

    repo.sample(&procfile("two"));
    repo.commit("two", &["Procfile", "tracked.txt"]);
    let out = repo.git(&["push", &url, "main"]).await;
    assert_eq!(out.code, 0, "git push: {}", out.stderr);
    assert_eq!(mark_of(web_on(&api, &name, 3).await).await, "two");

    // Back to the first commit: a force push builds it again, as a new release.
    let out = repo
        .git(&["push", "--force", &url, &format!("{one}:refs/heads/main")])
        .await;
    assert_eq!(out.code, 0, "git push --force: {}", out.stderr);
    assert!(out.stderr.contains("remote: -----> Released v4"), "{}", out.stderr);
    assert!(out.stderr.contains("forced update"), "{}", out.stderr);
    assert_eq!(
        repo.remote_ref(&url, "refs/heads/main").await.as_deref(),
        Some(one.as_str())
    );
    assert_eq!(mark_of(web_on(&api, &name, 4).await).await, "one");
}
