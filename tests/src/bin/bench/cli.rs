//! `cli` (only with `--only cli`): the round trip of a plain client command, `broker ps`, run
//! as a person runs it (the real binary: process start, login lookup, one HTTPS-less HTTP
//! request, the table printed), beside its anchor, `curl` of the same `GET /apps/{app}/dynos`
//! with the same token; runs interleaved, medians compared.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{push, sample_app, up, wait_dynos, PROCFILE};
use addon_broker_tests::{broker_bin, TestApp};
use broker::auth::Scope;

use crate::{median, ms};

/// Runs `cmd` to its end; how long that took (it must succeed).
fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// `runs` × `broker ps -a APP` vs `curl` of `GET /apps/APP/dynos`, on an app with a web dyno up.
pub async fn run(app: &TestApp, runs: usize) {
    let api = app.api("bench", Scope::Platform);
    let token = app.token("bench", Scope::Platform);
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;
    wait_dynos(&api, &name, "web.1 up", |l| up(l, "web").len() == 1).await;
    let home = tempfile::tempdir().unwrap();
    let mut ps = Command::new(broker_bin());
    ps.args(["ps", "-a", &name])
        .env_clear()
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .env("BROKER_URL", &app.url)
        .env("BROKER_TOKEN", &token)
        .stdin(Stdio::null());
    let mut curl = Command::new("curl");
    curl.args(["-sf", "-o", "/dev/null", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{}/apps/{name}/dynos", app.url))
        .stdin(Stdio::null());
    // Warm the page cache for both binaries and the broker's pools.
    for _ in 0..3 {
        timed(&mut ps);
        timed(&mut curl);
    }
    let (mut cli, mut anchor) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        cli.push(timed(&mut ps));
        anchor.push(timed(&mut curl));
    }
    let (c, a) = (median(cli), median(anchor));
    println!("`broker ps` round trip, {runs} runs each, interleaved (app with one web dyno up)");
    println!("  broker ps (real binary): median {:.2} ms", ms(c));
    println!("  curl GET /apps/{{app}}/dynos (same token): median {:.2} ms", ms(a));
    println!("  ratio: {:.2}x", ms(c) / ms(a));
}
