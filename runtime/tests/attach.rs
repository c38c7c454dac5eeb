//! Interactive containers of the local backend against the real kernel: a PTY that is the
//! command's controlling terminal (size, resize, Ctrl-C, job control), and a plain stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use runtime::local::LocalRuntime;
use runtime::{Attachment, ContainerIo, ContainerSpec, Input, Limits, Runtime, RuntimeError, Signal, State, TermSize};

mod common;

fn runtime(root: &Path) -> LocalRuntime {
    common::runtime(root, "abr-attach-tests")
}

use common::tempdir;

fn spec(id: &str, app: &Path, command: &str, io: ContainerIo) -> ContainerSpec {
    ContainerSpec {
        id: id.into(),
        labels: BTreeMap::new(),
        hostname: "run.1".into(),
        command: command.into(),
        env: BTreeMap::from([
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("TERM".into(), "dumb".into()),
            ("PS1".into(), "PROMPT$ ".into()),
        ]),
        app_source: app.to_path_buf(),
        share_app: false,
        mounts: Vec::new(),
        limits: Limits {
            memory_bytes: 128 << 20,
            max_processes: 64,
        },
        io,
        network: Default::default(),
    }
}

/// The output read so far, and how far [`expect`] has matched in it.
#[derive(Default)]
struct Seen {
    text: String,
    pos: usize,
}

/// Reads output until it holds `want` after the previous match, with a deadline.
async fn expect(a: &mut Attachment, seen: &mut Seen, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(i) = seen.text[seen.pos..].find(want) {
            seen.pos += i + want.len();
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, a.output.recv()).await {
            Ok(Some(bytes)) => seen.text.push_str(&String::from_utf8_lossy(&bytes)),
            _ => panic!("no {want:?} in {:?}", &seen.text[seen.pos..]),
        }
    }
}

/// A foreground job that says when it runs, then sleeps.
const SLEEP: &[u8] = b"sh -c 'echo sleep''ing; exec sleep 600'\n";

async fn wait_exit(rt: &LocalRuntime, id: &str) -> runtime::Exit {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let State::Exited(e) = rt.status(id).await.unwrap().state {
            return e;
        }
        if Instant::now() > deadline {
            let ps = std::process::Command::new("ps")
                .args(["-eo", "pid,pgid,sid,tty,stat,args"])
                .output()
                .unwrap();
            panic!("{id} still running\n{}", String::from_utf8_lossy(&ps.stdout));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(a: &Attachment, i: Input) {
    a.input.send(i).await.unwrap();
}

#[tokio::test]
async fn a_terminal_is_the_commands_controlling_terminal() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    let rt = runtime(&dir.path().join("containers"));
    let io = ContainerIo::Interactive {
        tty: Some(TermSize { rows: 30, cols: 100 }),
    };
    rt.start(spec("tty", &app, "exec bash --norc -i", io)).await.unwrap();
    let mut a = rt.attach("tty").await.unwrap();
    assert!(a.tty);
    assert!(matches!(rt.attach("tty").await, Err(RuntimeError::Conflict(_))));
    let mut seen = Seen::default();
    expect(&mut a, &mut seen, "PROMPT$ ").await;
    send(&a, Input::Data(b"stty size; test -t 0 && echo is-a-'term'\n".to_vec())).await;
    expect(&mut a, &mut seen, "30 100").await;
    expect(&mut a, &mut seen, "is-a-term").await;
    send(&a, Input::Resize(TermSize { rows: 40, cols: 120 })).await;
    send(&a, Input::Data(b"stty size\n".to_vec())).await;
    expect(&mut a, &mut seen, "40 120").await;
    // Ctrl-C typed as a byte interrupts the foreground job; the shell goes on.
    // (The job says it runs once it is in the foreground: a Ctrl-C typed earlier could land
    // between the shell's fork and exec, where the shell's handler catches it.)
    send(&a, Input::Data(SLEEP.to_vec())).await;
    expect(&mut a, &mut seen, "sleeping\r\n").await;
    send(&a, Input::Data(b"\x03".to_vec())).await;
    expect(&mut a, &mut seen, "PROMPT$ ").await;
    send(&a, Input::Data(b"echo status-$?\n".to_vec())).await;
    expect(&mut a, &mut seen, "status-130").await;
    // The signal control reaches the foreground job too.
    send(&a, Input::Data(SLEEP.to_vec())).await;
    expect(&mut a, &mut seen, "sleeping\r\n").await;
    send(&a, Input::Signal(Signal::Int)).await;
    expect(&mut a, &mut seen, "PROMPT$ ").await;
    send(&a, Input::Data(b"echo status-$?\n".to_vec())).await;
    expect(&mut a, &mut seen, "status-130").await;
    send(&a, Input::Data(b"echo ali''ve; exit 3\n".to_vec())).await;
    expect(&mut a, &mut seen, "alive").await;
    assert_eq!(wait_exit(&rt, "tty").await.code, Some(3), "{}", seen.text);
    // The output also went to the log.
    let log = rt.output("tty", 0, 1 << 20).await.unwrap();
    assert!(String::from_utf8_lossy(&log.bytes).contains("alive"));
}

#[tokio::test]
async fn without_a_terminal_input_streams_and_ends() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    let rt = runtime(&dir.path().join("containers"));
    let io = ContainerIo::Interactive { tty: None };
    rt.start(spec("pipe", &app, "tty || true; cat; echo done >&2; exit 5", io))
        .await
        .unwrap();
    let mut a = rt.attach("pipe").await.unwrap();
    assert!(!a.tty);
    let mut seen = Seen::default();
    expect(&mut a, &mut seen, "not a tty").await;
    send(&a, Input::Data(b"hello\n".to_vec())).await;
    expect(&mut a, &mut seen, "hello").await;
    send(&a, Input::Eof).await;
    expect(&mut a, &mut seen, "done").await;
    assert_eq!(wait_exit(&rt, "pipe").await.code, Some(5));

    rt.start(spec(
        "int",
        &app,
        "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.05; done",
        io,
    ))
    .await
    .unwrap();
    let mut a = rt.attach("int").await.unwrap();
    let mut seen = Seen::default();
    // Until the trap is set the shell would just die: wait for it.
    expect(&mut a, &mut seen, "ready").await;
    send(&a, Input::Signal(Signal::Int)).await;
    expect(&mut a, &mut seen, "got-int").await;
    assert_eq!(wait_exit(&rt, "int").await.code, Some(9));
}

#[tokio::test]
async fn a_logged_container_is_not_attachable() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    let rt = runtime(&dir.path().join("containers"));
    rt.start(spec("logged", &app, "true", ContainerIo::Logged))
        .await
        .unwrap();
    assert!(matches!(rt.attach("logged").await, Err(RuntimeError::Invalid(_))));
    assert!(matches!(rt.attach("nothing").await, Err(RuntimeError::NotFound(_))));
}
