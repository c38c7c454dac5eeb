//! `run` and `run:detached`: an interactive one-off dyno driven in a pseudo-terminal as a person
//! types (prompt, exit code, resize, Ctrl-C), piped input without a terminal, a detached run,
//! and the attach endpoint's rules (another tenant's 404, one client, disconnect stops).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{push, sample_app, PROCFILE};
use addon_broker_tests::{CliUser, Options, TestApp};
use expectrl::process::unix::WaitStatus;
use expectrl::{Expect, Regex, Session};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A broker with an app of alice's that has code, and alice at a terminal.
async fn deployed() -> (TestApp, String, CliUser) {
    let app = TestApp::spawn_with(Options {
        stop_grace_ms: 1_000,
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;
    let alice = CliUser::new(&app, "alice");
    (app, name, alice)
}

/// `broker ARGS…` in a pseudo-terminal of 100×30.
fn spawn(user: &CliUser, args: &[&str]) -> expectrl::session::OsSession {
    let mut s = Session::spawn(user.command(args)).unwrap();
    s.get_process_mut().set_window_size(100, 30).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(60)));
    s
}

fn exit_code(s: &expectrl::session::OsSession) -> i32 {
    match s.get_process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("the CLI did not exit: {other:?}"),
    }
}

#[tokio::test]
async fn run_bash_is_a_terminal_in_the_dyno_with_its_exit_code_resizes_and_ctrl_c() {
    let (_app, name, user) = deployed().await;
    tokio::task::spawn_blocking(move || {
        let mut s = spawn(&user, &["run", "-a", &name, "bash"]);
        if let Err(e) = s.expect("$ ") {
            let rest = s
                .expect(expectrl::Eof)
                .map(|c| String::from_utf8_lossy(c.before()).into_owned());
            let status = s.get_process().status();
            panic!("no prompt ({e}): {rest:?}, the CLI: {status:?}");
        }
        s.send_line("echo $DYNO; exit 3").unwrap();
        if let Err(e) = s.expect(Regex("[\r\n]run\\.[0-9]+\r\n")) {
            let rest = s
                .expect(expectrl::Eof)
                .map(|c| String::from_utf8_lossy(c.before()).into_owned());
            panic!("no dyno name ({e}): {rest:?}");
        }
        assert_eq!(exit_code(&s), 3, "the dyno's exit code is the CLI's");

        let mut s = spawn(&user, &["run", "-a", &name, "bash"]);
        s.expect("$ ").unwrap();
        // A resize of this terminal reaches the dyno's (retried: the resize and the typed
        // command travel apart).
        s.get_process_mut().set_window_size(120, 40).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        s.set_expect_timeout(Some(Duration::from_secs(2)));
        loop {
            s.send_line("stty size").unwrap();
            if s.expect("40 120").is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the resize never reached the dyno");
        }
        s.set_expect_timeout(Some(Duration::from_secs(60)));
        // Ctrl-C interrupts the foreground job; the shell goes on. The job says when it runs,
        // so that the Ctrl-C does not land between the shell's fork and exec.
        s.send_line("sh -c 'echo sleep''ing; exec sleep 600'").unwrap();
        s.expect("sleeping").unwrap();
        s.send([3u8]).unwrap();
        s.send_line("echo status-$?").unwrap();
        s.expect("status-130").unwrap();
        s.send_line("exit").unwrap();
        assert_eq!(exit_code(&s), 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn piped_input_runs_without_a_terminal_and_detached_runs_log() {
    let (app, name, alice) = deployed().await;
    let out = alice
        .run_with_input(&["run", "-a", &name, "python3"], b"print(1+1)\n")
        .await;
    assert_eq!(out.ok().trim(), "2", "stderr: {}", out.stderr);
    let out = alice
        .run_with_input(
            &["run", "-a", &name, "--", "python3", "-c", "'import sys; sys.exit(7)'"],
            b"",
        )
        .await;
    assert_eq!(out.code, 7, "{out:?}");

    // Without a terminal, a SIGINT of the CLI (Ctrl-C in a pipeline) reaches the dyno.
    let mut cmd = alice.command(&[
        "run",
        "-a",
        &name,
        "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.05; done",
    ]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let (code, printed) = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut child = cmd.spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        (child.wait().unwrap().code(), rest)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(9), "{printed:?}");
    assert_eq!(printed, ["got-int"]);

    let d = alice
        .run(&["run:detached", "-a", &name, "--json", "echo", "detached-$DYNO"])
        .await
        .json();
    let dyno = d["name"].as_str().unwrap().to_string();
    assert!(d["attach_url"].is_null());
    let text = alice.run(&["run:detached", "-a", &name, "true"]).await;
    assert!(text.ok().contains("broker logs"), "{}", text.stdout);
    let api = app.platform();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = api.get(&format!("/apps/{name}/dynos/{dyno}/output")).await;
        if r.body["output"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("detached-{dyno}"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens the attach WebSocket with `token`; the refusal's status when refused.
async fn attach(url: &str, token: &str) -> Result<TungsteniteWs, u16> {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

type TungsteniteWs = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::test]
async fn attach_is_for_the_apps_people_one_client_at_a_time_and_a_disconnect_stops_the_dyno() {
    let (app, name, _alice) = deployed().await;
    let api = app.platform();
    let r = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({ "command": "sleep 600", "interactive": true }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = r.body["attach_url"].as_str().unwrap().to_string();
    let dyno = r.body["name"].as_str().unwrap().to_string();
    let container = r.body["id"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("ws://") && url.ends_with(&format!("/apps/{name}/dynos/{dyno}/attach")),
        "{url}"
    );

    let mallory = app.token("mallory", broker::auth::Scope::Platform);
    assert_eq!(
        attach(&url, &mallory).await.err(),
        Some(404),
        "another tenant sees no app"
    );
    let alice = app.token("alice", broker::auth::Scope::Platform);
    let ws = attach(&url, &alice).await.expect("alice attaches");
    assert_eq!(attach(&url, &alice).await.err(), Some(409), "one client at a time");
    // Not interactive, or plain HTTP: clear refusals.
    let batch = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({ "command": "true", "attach": true }),
        )
        .await;
    assert!(batch.body["attach_url"].is_null());
    let plain = api.get(&format!("/apps/{name}/dynos/{dyno}/attach")).await;
    assert_eq!(plain.status, 400, "{:?}", plain.body);

    drop(ws);
    // Ended as the runtime itself sees it (the API hides a dyno as soon as its stop begins).
    let rt = app.runtime();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = runtime::Runtime::status(&rt, &container).await.unwrap();
        if !status.running() {
            break;
        }
        assert!(Instant::now() < deadline, "the dyno outlived its client: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ended = attach(&url, &alice).await.err();
    assert!(matches!(ended, Some(410) | Some(404)), "{ended:?}");
}
