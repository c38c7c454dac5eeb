//! `attach` (only with `--only attach`): keystroke echo latency of an interactive `broker run
//! bash` (the CLI in a PTY, a WebSocket to the broker, the dyno's PTY, bash's echo and back),
//! beside the same keystrokes to `bash` in a local PTY (no broker) as the anchor. Each
//! keystroke is typed alone and timed until its echo comes back; medians and p99s.

use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{push, sample_app, PROCFILE};
use addon_broker_tests::{CliUser, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{median, ms, percentile};

/// Reads from the PTY until the output holds `want`.
async fn until(pty: &mut pty_process::Pty, want: &[u8]) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.windows(want.len()).any(|w| w == want) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, pty.read(&mut buf))
            .await
            .expect("no echo within a minute")
            .expect("the PTY closed");
        assert!(n > 0, "the PTY closed");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Starts `cmd` in a new 100×30 PTY, waits for bash's prompt, types `n` (+ 20 warm-up)
/// keystrokes one at a time (each followed by an untimed backspace) and times each echo.
async fn keystrokes(cmd: std::process::Command, n: usize) -> Vec<Duration> {
    let (mut pty, pts) = pty_process::open().unwrap();
    pty.resize(pty_process::Size::new(30, 100)).unwrap();
    let mut child = pty_process::Command::from(tokio::process::Command::from(cmd))
        .spawn(pts)
        .unwrap();
    until(&mut pty, b"$ ").await;
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let t = Instant::now();
        pty.write_all(b"x").await.unwrap();
        until(&mut pty, b"x").await;
        if i >= 20 {
            times.push(t.elapsed());
        }
        pty.write_all(b"\x7f").await.unwrap();
        until(&mut pty, b"\x08").await;
    }
    pty.write_all(b"exit\r").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    times
}

fn line(what: &str, times: &[Duration]) -> (f64, f64) {
    let (m, p99) = (ms(median(times.to_vec())), ms(percentile(times.to_vec(), 0.99)));
    println!("  {what}: median {m:.3} ms, p99 {p99:.3} ms");
    (m, p99)
}

/// Runs both, `n` keystrokes each.
pub async fn run(app: &TestApp, n: usize) {
    let api = app.platform();
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;
    let alice = CliUser::new(app, "alice");
    println!("attach: keystroke echo latency, {n} keystrokes typed one at a time");
    let mut local = std::process::Command::new("bash");
    local
        .args(["--norc", "--noprofile", "-i"])
        .env_clear()
        .env("PS1", "$ ")
        .env("TERM", "xterm");
    let anchor = keystrokes(local, n).await;
    let mut cmd = alice.command(&["run", "-a", &name, "bash"]);
    cmd.env("TERM", "xterm");
    let run = keystrokes(cmd, n).await;
    let (am, ap) = line("local PTY running bash (anchor)", &anchor);
    let (rm, rp) = line("broker run bash", &run);
    println!("  ratio: median {:.1}x, p99 {:.1}x", rm / am, rp / ap);
}
