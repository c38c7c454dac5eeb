//! What every command of the `broker` binary owes a person, held for every command at once (so
//! that a new one cannot forget): an example in its `--help`, and, when it is about an app but
//! none is named, one line saying to pass --app, with nothing changed. Also a wrong token, no
//! login and an unreachable broker on commands that change things: one line, nothing changed.

use addon_broker_tests::{CliUser, TestApp};
use broker::auth::Scope;

use super::config::create_app;

/// Commands that take --app but also work without one (they then cover everything visible).
const APP_OPTIONAL: &[&str] = &["addons"];

#[tokio::test]
async fn every_command_shows_an_example_in_its_help() {
    let names = broker::cli::command_names();
    assert!(names.len() > 20, "{names:?}");
    let person = CliUser::logged_out();
    let top = person.run(&["--help"]).await;
    for name in &names {
        assert!(
            top.ok()
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "broker --help lists {name}: {}",
            top.stdout
        );
        let help = person.run(&[name, "--help"]).await;
        assert!(
            help.ok().contains("Example"),
            "broker {name} --help shows an example:\n{}",
            help.stdout
        );
    }
}

/// The required positional arguments of a command, from the `Usage:` line of its help
/// (`Usage: broker config:set [OPTIONS] <KEY=VALUE>...`), each given a harmless value.
fn dummy_arguments(help: &str) -> Vec<String> {
    let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap_or_default();
    usage
        .split_whitespace()
        .filter(|w| w.starts_with('<'))
        .map(|_| "x=1".to_string())
        .collect()
}

#[tokio::test]
async fn a_command_about_an_app_without_one_says_to_pass_app_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let api = app.api("alice", Scope::Platform);
    let snapshot = || async { (api.get("/apps").await.body, api.get("/addons").await.body) };
    let before = snapshot().await;
    let mut checked = Vec::new();
    for name in broker::cli::command_names() {
        let help = alice.run(&[&name, "--help"]).await;
        if !help.ok().contains("--app") || APP_OPTIONAL.contains(&name.as_str()) {
            continue;
        }
        let mut args = vec![name.clone()];
        args.extend(dummy_arguments(&help.stdout));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = alice.run(&args).await;
        let line = out.fails();
        assert!(line.contains("--app"), "broker {}: {line}", args.join(" "));
        checked.push(name);
    }
    for name in [
        "config:set",
        "addons:create",
        "kafka:topics:create",
        "access:add",
        "apps:info",
    ] {
        assert!(checked.iter().any(|c| c == name), "{name} was checked: {checked:?}");
    }
    assert_eq!(snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn a_wrong_token_no_login_or_no_broker_is_one_line_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = CliUser::new(&app, "alice");
    let name = create_app(&alice, "bad").await;
    let api = app.api("alice", Scope::Platform);
    let snapshot = || async {
        (
            api.get(&format!("/apps/{name}/config-vars")).await.body,
            api.get(&format!("/apps/{name}/addons")).await.body,
            api.get(&format!("/apps/{name}/collaborators")).await.body,
            api.releases(&name).await.len(),
        )
    };
    let before = snapshot().await;
    let changes: [&[&str]; 3] = [
        &["config:set", "A=1", "-a", &name],
        &["addons:create", "redis", "-a", &name],
        &["access:add", "bob", "-a", &name],
    ];

    let mut wrong = CliUser::new(&app, "alice");
    wrong.set_env("BROKER_TOKEN", "not-a-token");
    let mut nobody = CliUser::logged_out();
    nobody.set_env("BROKER_URL", &app.url);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nowhere = CliUser::new(&app, "alice");
    nowhere.set_env("BROKER_URL", &format!("http://127.0.0.1:{port}"));
    for args in changes {
        let out = wrong.run(args).await;
        assert!(out.fails().contains("(run `broker login`"), "{args:?}: {}", out.stderr);
        let out = nobody.run(args).await;
        assert!(
            out.fails().starts_with("broker: not logged in: run `broker login`"),
            "{args:?}: {}",
            out.stderr
        );
        let out = nowhere.run(args).await;
        assert!(
            out.fails().contains("cannot reach the broker"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(snapshot().await, before, "nothing changed");

    // An unknown command: clap's message, a non-zero exit, and a hint at the list.
    let out = alice.run(&["addons:frobnicate"]).await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("unrecognized subcommand 'addons:frobnicate'"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--help"), "{}", out.stderr);
}
