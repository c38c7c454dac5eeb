//! The CLI's side: `apps:create` in a git work tree adds the `broker` remote and the credential
//! helper, so that a plain `git push broker main` deploys; `git:remote` points a remote at an
//! existing app; `git:credentials` answers the login's broker only.

use addon_broker_tests::{CliUser, TestApp};
use broker::auth::Scope;

use super::{mark_of, procfile, web_on};

#[tokio::test]
async fn apps_create_in_a_git_repository_adds_the_remote_and_a_plain_push_deploys() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let api = app.api("alice", Scope::Platform);
    for args in [
        &["init", "--quiet", "--initial-branch=main"][..],
        &["config", "user.name", "Alice"],
        &["config", "user.email", "alice@example.com"],
    ] {
        alice.git(args).await.ok();
    }
    let bin = alice.cwd().join("sample-dyno");
    std::fs::copy(addon_broker_tests::dynos::sample_binary(), &bin).unwrap();
    std::fs::write(alice.cwd().join("Procfile"), procfile("cli")).unwrap();
    alice.git(&["add", "Procfile", "sample-dyno"]).await.ok();
    alice.git(&["commit", "--quiet", "-m", "first"]).await.ok();

    let name: String = addon_broker_tests::unique("gitcli").chars().take(20).collect();
    let created = alice.run(&["apps:create", &name]).await;
    let url = format!("{}/apps/{name}.git", app.url);
    assert!(
        created.ok().contains(&format!("Git remote broker → {url}")),
        "{}",
        created.stdout
    );
    assert_eq!(alice.git(&["remote", "get-url", "broker"]).await.ok().trim(), url);
    let helper = alice
        .git(&["config", "--get", &format!("credential.{url}.helper")])
        .await;
    assert!(
        helper.ok().trim_end().ends_with(" git:credentials"),
        "{}",
        helper.stdout
    );

    // No credentials typed, none in the URL: the helper gives the login's token.
    let push = alice.git(&["push", "broker", "main"]).await;
    assert_eq!(push.code, 0, "git push broker main: {}", push.stderr);
    assert!(push.stderr.contains("remote: -----> Released v2"), "{}", push.stderr);
    assert_eq!(mark_of(web_on(&api, &name, 2).await).await, "cli");

    // The remote names the app for the other commands too.
    std::fs::remove_file(alice.cwd().join(".broker-app")).unwrap();
    let info = alice.run(&["apps:info", "--json"]).await.json();
    assert_eq!(info["app"]["name"], name.as_str());

    // git:remote: another remote for the same app, and one pointed again.
    let added = alice.run(&["git:remote", "-a", &name, "--remote", "staging"]).await;
    assert!(
        added.ok().contains(&format!("Git remote staging → {url}")),
        "{}",
        added.stdout
    );
    assert_eq!(alice.git(&["remote", "get-url", "staging"]).await.ok().trim(), url);
    alice
        .git(&["remote", "set-url", "broker", "http://127.0.0.1:1/elsewhere.git"])
        .await
        .ok();
    alice.run(&["git:remote", "-a", &name]).await.ok();
    assert_eq!(alice.git(&["remote", "get-url", "broker"]).await.ok().trim(), url);
    let listed = alice.git(&["ls-remote", "staging", "refs/heads/main"]).await;
    assert!(!listed.ok().trim().is_empty(), "{}", listed.stdout);

    // The helper speaks for the login's broker only, and ignores store and erase.
    let host = app.url.strip_prefix("http://").unwrap();
    let asked = alice
        .run_with_input(
            &["git:credentials", "get"],
            format!("protocol=http\nhost={host}\npath=apps/{name}.git\n\n").as_bytes(),
        )
        .await;
    assert!(
        asked.ok().starts_with("username=broker\npassword=ey"),
        "{}",
        asked.stdout
    );
    let elsewhere = alice
        .run_with_input(&["git:credentials", "get"], b"protocol=https\nhost=example.com\n\n")
        .await;
    assert_eq!(elsewhere.ok(), "");
    let erase = alice
        .run_with_input(
            &["git:credentials", "erase"],
            format!("protocol=http\nhost={host}\n\n").as_bytes(),
        )
        .await;
    assert_eq!(erase.ok(), "");

    // Outside a git work tree git:remote says so and changes nothing.
    let mut outside = CliUser::new(&app, "alice");
    outside.cd(outside.home().join("plain"));
    let refused = outside.run(&["git:remote", "-a", &name]).await;
    assert!(refused.fails().contains("not a git work tree"), "{}", refused.stderr);
}
