//! `apps*`, `login`, `auth:*` and the errors a person meets first: no login, a wrong token, a
//! broker that is not there, an unknown command.

use addon_broker_tests::{unique, CliUser, TestApp};

#[tokio::test]
async fn an_app_is_created_named_in_the_directory_shown_renamed_and_destroyed() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let name = unique("cli").chars().take(24).collect::<String>();
    let out = alice.run(&["apps:create", &name]).await;
    assert!(out.ok().contains(&name), "{}", out.stdout);
    let file = std::fs::read_to_string(alice.cwd().join(".broker-app")).unwrap();
    assert_eq!(file.trim(), name);

    // No --app: the .broker-app file names it.
    let info = alice.run(&["apps:info", "--json"]).await.json();
    assert_eq!(info["app"]["name"], name.as_str());
    let listed = alice.run(&["apps"]).await;
    assert!(listed.ok().lines().any(|l| l.starts_with(&name)), "{}", listed.stdout);

    // The plain `topic command` form works too.
    let renamed = format!("{name}-2");
    alice.run(&["apps", "rename", &renamed]).await.ok();
    let file = std::fs::read_to_string(alice.cwd().join(".broker-app")).unwrap();
    assert_eq!(file.trim(), renamed, "the app file follows the rename");

    let refused = alice.run(&["apps:destroy"]).await;
    assert!(refused.fails().contains("--confirm"), "{}", refused.stderr);
    alice.run(&["apps:info"]).await.ok();
    alice.run(&["apps:destroy", "--confirm", &renamed]).await.ok();
    let gone = alice.run(&["apps:info"]).await;
    assert!(gone.fails().contains("does not exist"), "{}", gone.stderr);
}

#[tokio::test]
async fn login_is_stored_privately_and_whoami_answers() {
    let app = TestApp::spawn().await;
    let token = app.token("carol", broker::auth::Scope::Platform);
    let carol = CliUser::logged_out();
    let none = carol.run(&["apps"]).await;
    assert!(none.fails().contains("broker login"), "{}", none.stderr);

    carol.run(&["login", "--url", &app.url, "--token", &token]).await.ok();
    let path = carol.home().join(".config/broker/credentials.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(carol.run(&["auth:whoami"]).await.ok().trim(), "carol");
    assert_eq!(carol.run(&["auth:token"]).await.ok().trim(), token);

    // BROKER_TOKEN overrides the stored token; a wrong one is one line and exit 1.
    let mut wrong = CliUser::logged_out();
    wrong.set_env("BROKER_URL", &app.url);
    wrong.set_env("BROKER_TOKEN", "not-a-token");
    let out = wrong.run(&["apps"]).await;
    assert!(out.fails().contains("broker login"), "{}", out.stderr);
}

#[tokio::test]
async fn an_unreachable_broker_and_an_unknown_command_say_what_to_do() {
    let mut user = CliUser::logged_out();
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    user.set_env("BROKER_URL", &format!("http://127.0.0.1:{port}"));
    user.set_env("BROKER_TOKEN", "x");
    let out = user.run(&["apps"]).await;
    assert!(out.fails().contains("cannot reach the broker"), "{}", out.stderr);

    let out = user.run(&["apps:frobnicate"]).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unrecognized subcommand"), "{}", out.stderr);
}
