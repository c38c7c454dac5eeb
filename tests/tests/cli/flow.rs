//! The README's Heroku 101 flow, run as typed: every `broker` line of its block, in order,
//! through the real binary against a broker this test starts, with checks after each step that
//! what a person expects happened (dynos up, credentials that work, a rollback that rolls back,
//! credentials revoked once the app is gone).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use addon_broker_tests::{connect_with_uri, kafka, redis_works, unique, CliUser, Ran, TestApp};
use serde_json::Value;

/// The `broker` lines of the README's Heroku 101 block, comments removed, split into words.
fn readme_flow() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme
        .find("<!-- heroku101")
        .expect("the README has the heroku101 block");
    let block = &readme[start..];
    let body = block.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    body.lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .filter(|l| l.starts_with("broker "))
        .map(|l| {
            assert!(
                !l.contains(['"', '\'', '$']),
                "the flow test splits on spaces only: {l}"
            );
            l.split_whitespace().skip(1).map(String::from).collect()
        })
        .collect()
}

/// A copy of `tests/apps/hello` to work in, so the flow's `.broker-app` stays out of the repo.
fn copy_example(to: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/hello");
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to.to_path_buf()
}

async fn wait_for(user: &CliUser, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let dynos = user.run(&["ps", "--json"]).await.json();
        let list = dynos.as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {list:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn up_of(list: &[Value], kind: &str) -> usize {
    list.iter().filter(|d| d["type"] == kind && d["state"] == "up").count()
}

#[tokio::test]
async fn the_readme_heroku_101_flow_works_as_typed() {
    let broker = TestApp::spawn().await;
    let mut user = CliUser::new(&broker, "newcomer");
    // `open` prints the URL it would give a browser; no browser is started in a test.
    user.set_env("BROWSER", "echo");
    let dir = copy_example(&user.home().join("hello"));
    user.cd(dir);
    let app = unique("hello").chars().take(20).collect::<String>();
    let mut urls: Vec<(String, String)> = Vec::new();
    for words in readme_flow() {
        let args: Vec<String> = words
            .iter()
            .map(|w| if w == "hello" { app.clone() } else { w.clone() })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = args.join(" ");
        match args.as_slice() {
            ["run", "bash"] => {
                let out = user
                    .run_with_input(&args, b"echo dyno=$DYNO greeting=${GREETING:-none}\nexit 0\n")
                    .await;
                assert!(out.ok().contains("dyno=run."), "{line}: {}", out.stdout);
            }
            ["logs", "--tail"] => tail_until(&user, &args, "tick").await,
            _ => {
                let out = user.run(&args).await;
                if out.code != 0 {
                    // What the app's log says explains most failures (a dyno that crashed).
                    let logs = user.run(&["logs", "-n", "60"]).await;
                    eprintln!("{line} failed; the app's log:\n{}{}", logs.stdout, logs.stderr);
                }
                out.ok();
                check_step(&user, &args, &out, &mut urls).await;
            }
        }
    }
    // The app is gone, and with it every add-on's credentials.
    assert!(user.run(&["apps:info"]).await.fails().contains("does not exist"));
    for (name, url) in urls {
        match name.as_str() {
            "DATABASE_URL" => assert!(connect_with_uri(&url).await.is_err(), "{name} revoked"),
            "REDIS_URL" => {
                let client = redis::Client::open(url.as_str()).unwrap();
                assert!(
                    client.get_multiplexed_async_connection().await.is_err(),
                    "{name} revoked"
                );
            }
            _ => {}
        }
    }
}

/// `curl URL` as a person types it (curl resolves `*.localhost` itself) until the app answers
/// with `greeting` (the dynos roll onto the new config first).
async fn served_through_router(url: &str, greeting: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "10", url])
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if serde_json::from_str::<Value>(&body).is_ok_and(|v| v["greeting"] == greeting) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never served greeting {greeting}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a person checks after each line of the flow.
async fn check_step(user: &CliUser, args: &[&str], out: &Ran, urls: &mut Vec<(String, String)>) {
    match args {
        ["deploy"] => {
            let all = format!("{}{}", out.stdout, out.stderr);
            assert!(
                all.contains("migrating on"),
                "the release phase's output is streamed: {all}"
            );
            wait_for(user, "a web dyno up", |l| up_of(l, "web") >= 1).await;
        }
        ["ps:scale", ..] => {
            wait_for(user, "web=2 worker=1 up", |l| {
                up_of(l, "web") == 2 && up_of(l, "worker") == 1
            })
            .await;
        }
        ["ps"] => {
            assert!(
                out.stdout.contains("web.1") && out.stdout.contains("worker.1"),
                "{}",
                out.stdout
            );
        }
        ["open"] => {
            let url = out
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("Opening "))
                .and_then(|l| l.strip_suffix("..."))
                .unwrap_or_else(|| panic!("no URL: {}", out.stdout))
                .to_string();
            assert!(url.contains(".localhost:"), "{url}");
            served_through_router(&url, "hi").await;
        }
        ["run", "python3", "migrate.py"] => assert!(out.stdout.contains("migrating on run."), "{}", out.stdout),
        ["config:set", ..] => {
            let v = user.run(&["config:get", "GREETING"]).await;
            assert_eq!(v.ok().trim(), "hi");
        }
        ["addons:create", service] => {
            let var = match *service {
                "postgresql" => "DATABASE_URL",
                "redis" => "REDIS_URL",
                _ => "KAFKA_URL",
            };
            let url = user.run(&["config:get", var]).await.ok().trim().to_string();
            assert!(!url.is_empty(), "{var} is set");
            prove_works(user, var, &url).await;
            urls.push((var.to_string(), url));
        }
        ["rollback"] => {
            let releases = user.run(&["releases", "--json"]).await.json();
            let newest = releases
                .as_array()
                .unwrap()
                .iter()
                .max_by_key(|r| r["version"].as_i64())
                .unwrap()
                .clone();
            assert!(
                newest["description"].as_str().unwrap_or("").contains("Rollback"),
                "{newest}"
            );
        }
        _ => {}
    }
}

/// Uses an add-on's URL with a real client.
async fn prove_works(user: &CliUser, var: &str, url: &str) {
    match var {
        "DATABASE_URL" => {
            let client = connect_with_uri(url).await.unwrap();
            client
                .batch_execute("create table flow (x int); insert into flow values (1)")
                .await
                .unwrap();
        }
        "REDIS_URL" => {
            let prefix = user.run(&["config:get", "REDIS_PREFIX"]).await.ok().trim().to_string();
            redis_works(url, &prefix).await.unwrap();
        }
        _ => {
            let prefix = user.run(&["config:get", "KAFKA_PREFIX"]).await.ok().trim().to_string();
            let topic = format!("{prefix}events");
            user.run(&["kafka:topics:create", &topic]).await.ok();
            let bootstrap = url.replace("kafka://", "");
            kafka::produce(&bootstrap, &topic, "hello").await.unwrap();
            kafka::consume_until(&bootstrap, &topic, "hello").await.unwrap();
        }
    }
}

/// Runs `logs --tail` until a line containing `needle` arrives, then interrupts it (Ctrl-C).
async fn tail_until(user: &CliUser, args: &[&str], needle: &str) {
    let mut cmd = user.command(args);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let needle = needle.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        // A watchdog, so a tail that never shows the line fails the test instead of hanging it.
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if stop_rx.recv_timeout(Duration::from_secs(120)).is_err() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        });
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        for line in lines {
            let line = line.unwrap();
            let hit = line.contains(&needle);
            seen.push(line);
            if hit {
                break;
            }
        }
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let _ = child.wait();
        let _ = stop_tx.send(());
        assert!(
            seen.iter().any(|l| l.contains(&needle)),
            "logs --tail showed {needle}: {seen:?}"
        );
    })
    .await
    .unwrap();
}
