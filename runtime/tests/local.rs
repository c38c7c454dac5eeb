//! The local backend against the real kernel: namespaces, limits, stop, output, adoption.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use runtime::local::{LocalConfig, LocalRuntime};
use runtime::{ContainerSpec, Limits, Runtime, State};

mod common;

fn runtime(root: &Path) -> LocalRuntime {
    common::runtime(root, "abr-runtime-tests")
}

use common::tempdir;

fn spec(id: &str, app: &Path, command: &str, limits: Limits) -> ContainerSpec {
    ContainerSpec {
        id: id.into(),
        labels: BTreeMap::from([("app".into(), "demo".into())]),
        hostname: "web.1".into(),
        command: command.into(),
        env: BTreeMap::from([
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("SECRET".into(), "s3cret".into()),
        ]),
        app_source: app.to_path_buf(),
        share_app: false,
        mounts: Vec::new(),
        limits,
        io: Default::default(),
        network: Default::default(),
    }
}

const SMALL: Limits = Limits {
    memory_bytes: 64 << 20,
    max_processes: 16,
};

async fn wait_exit(rt: &LocalRuntime, id: &str) -> runtime::Exit {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = rt.status(id).await.unwrap();
        if let State::Exited(e) = s.state {
            return e;
        }
        assert!(Instant::now() < deadline, "{id} still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn output(rt: &LocalRuntime, id: &str) -> String {
    String::from_utf8(rt.output(id, 0, 1 << 20).await.unwrap().bytes).unwrap()
}

#[tokio::test]
async fn isolation_environment_and_exit_code() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join("hello.txt"), "from the slug").unwrap();
    let rt = runtime(&dir.path().join("containers"));
    let command = "echo pid=$$; echo host=$(hostname); echo procs=$(ls /proc | grep -c '^[0-9]'); \
                   echo env=$SECRET; echo inherited=${HOME:-none}; cat hello.txt; echo; \
                   echo x > /app/new && echo app-writable; echo y > /tmp/t && echo tmp-writable; \
                   touch /usr/x 2>/dev/null || echo usr-readonly; ls /work /root 2>/dev/null || echo no-host-dirs; \
                   id -u; exit 7";
    rt.start(spec("iso", &app, command, SMALL)).await.unwrap();
    let exit = wait_exit(&rt, "iso").await;
    let out = output(&rt, "iso").await;
    assert_eq!(exit.code, Some(7), "{out}");
    assert!(!exit.oom_killed && !exit.stopped);
    // PID 1 is bubblewrap's init; the command is PID 2 and sees only its own few processes.
    assert!(out.contains("pid=2\n"), "{out}");
    let procs: usize = out
        .split("procs=")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(procs <= 5, "the container sees {procs} processes: {out}");
    for want in [
        "host=web.1",
        "env=s3cret",
        "inherited=none",
        "from the slug",
        "app-writable",
        "tmp-writable",
        "usr-readonly",
        "no-host-dirs",
    ] {
        assert!(out.contains(want), "missing {want:?} in {out}");
    }
    if LocalConfig::default_user().is_some() {
        assert!(out.contains("65534"), "not dropped to nobody: {out}");
    }
    // The container's writes went to its own copy, not to the slug.
    assert!(!app.join("new").exists());
    let listed = rt.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].labels["app"], "demo");
    rt.remove("iso").await.unwrap();
    assert!(rt.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn memory_and_process_limits_are_enforced_by_the_kernel() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    let rt = runtime(&dir.path().join("containers"));
    // `tail` keeps a line without newlines in memory: 256 MiB of zeros exceed 64 MiB.
    rt.start(spec(
        "hog",
        &app,
        "head -c 268435456 /dev/zero | tail >/dev/null; echo survived",
        SMALL,
    ))
    .await
    .unwrap();
    let exit = wait_exit(&rt, "hog").await;
    assert!(exit.oom_killed, "{exit:?} {}", output(&rt, "hog").await);

    // dash gives up at the first fork the pids limit refuses; every child that did start says so.
    let forks = "for i in $(seq 40); do (echo started; sleep 5) & done; wait";
    rt.start(spec("forks", &app, forks, SMALL)).await.unwrap();
    let exit = wait_exit(&rt, "forks").await;
    // The shell may give up before the children it forked were scheduled; they still write to
    // the output (they sleep 5 s after), so wait for two of them rather than read at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = output(&rt, "forks").await;
    while out.matches("started").count() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        out = output(&rt, "forks").await;
    }
    let running = out.matches("started").count();
    assert_ne!(exit.code, Some(0), "{out}");
    assert!(out.contains("fork"), "no fork failure reported: {out}");
    // Each child is one or two processes (subshell, then sleep) and the plumbing takes a
    // few of the 16: well under 40 children, but some.
    assert!(
        (2..16).contains(&running),
        "{running} children under a limit of 16 processes: {out}"
    );
    rt.kill_everything();
}

#[tokio::test]
async fn stop_sends_sigterm_then_sigkill_after_the_grace_period() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    let rt = runtime(&dir.path().join("containers"));
    let polite = "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done";
    rt.start(spec("polite", &app, polite, SMALL)).await.unwrap();
    let stubborn = "trap 'echo ignoring-term' TERM; echo ready; while :; do sleep 0.05; done";
    rt.start(spec("stubborn", &app, stubborn, SMALL)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let t = Instant::now();
    let s = rt.stop("polite", Duration::from_secs(5)).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "a polite dyno took {:?}",
        t.elapsed()
    );
    match s.state {
        State::Exited(e) => assert!(e.stopped && e.code == Some(0), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(output(&rt, "polite").await.contains("got-term"));

    let t = Instant::now();
    let s = rt.stop("stubborn", Duration::from_millis(800)).await.unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(800),
        "SIGKILL came before the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    match s.state {
        State::Exited(e) => assert!(e.stopped && e.code.is_none(), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(output(&rt, "stubborn").await.contains("ignoring-term"));
    assert!(rt.cgroups().procs("stubborn").is_empty());
    rt.kill_everything();
}

#[tokio::test]
async fn a_second_runtime_over_the_same_root_adopts_running_containers() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    let root = dir.path().join("containers");
    let first = runtime(&root);
    first
        .start(spec("long", &app, "while :; do echo tick; sleep 0.05; done", SMALL))
        .await
        .unwrap();
    drop(first);
    let second = runtime(&root);
    let listed = second.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].running());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(output(&second, "long").await.contains("tick"));
    let err = second.remove("long").await.unwrap_err();
    assert!(err.to_string().contains("running"), "{err}");
    second.stop("long", Duration::from_secs(1)).await.unwrap();
    second.remove("long").await.unwrap();
    second.kill_everything();
}

#[tokio::test]
async fn bad_ids_and_duplicate_ids_are_refused() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    let rt = runtime(&dir.path().join("containers"));
    for bad in ["../x", "", "A", "a/b", &"a".repeat(65)] {
        let err = rt.start(spec(bad, &app, "true", SMALL)).await.unwrap_err();
        assert!(matches!(err, runtime::RuntimeError::Invalid(_)), "{bad}: {err}");
    }
    rt.start(spec("dup", &app, "true", SMALL)).await.unwrap();
    let err = rt.start(spec("dup", &app, "true", SMALL)).await.unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
    rt.kill_everything();
}

#[tokio::test]
async fn the_environment_reaches_only_the_sandboxed_command() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir_all(app.join("bin")).unwrap();
    // A tenant that ships its own "bwrap" and "setpriv" and points PATH and LD_PRELOAD at its
    // files must not get them run on the host side.
    let marker = dir.path().join("pwned");
    for tool in ["bwrap", "setpriv", "sh"] {
        let script = format!("#!/bin/sh\ntouch {}\n", marker.display());
        std::fs::write(app.join("bin").join(tool), script).unwrap();
        std::fs::set_permissions(
            app.join("bin").join(tool),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let rt = runtime(&dir.path().join("containers"));
    let mut s = spec("env", &app, "echo secret=$SECRET; sleep 5", SMALL);
    s.env
        .insert("PATH".into(), format!("{}:/usr/bin:/bin", app.join("bin").display()));
    s.env
        .insert("LD_PRELOAD".into(), app.join("evil.so").display().to_string());
    rt.start(s).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(output(&rt, "env").await.contains("secret=s3cret"));
    // No host-side process of the container has the secret on its command line or in its
    // environment, except the sandboxed command itself (and its children).
    for pid in rt.cgroups().procs("env") {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("s3cret"),
            "pid {pid}: {cmdline:?}"
        );
        let environ =
            String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default()).to_string();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if environ.contains("s3cret") {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
            assert!(
                !uid.contains("\t0\t"),
                "a root process ({exe:?}) holds the tenant's environment"
            );
        }
    }
    rt.stop("env", Duration::from_secs(1)).await.unwrap();
    assert!(!marker.exists(), "the tenant's PATH chose a host-side binary");
    rt.kill_everything();
}
