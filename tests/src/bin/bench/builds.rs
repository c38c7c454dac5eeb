//! `builds` (only with `--only builds`): the Python example app's first build (cold cache) and
//! a rebuild (warm cache) through the broker, beside their anchor, the same `pip install -r
//! requirements.txt` into a fresh virtual environment by hand with a fresh pip cache, from the
//! same loopback index, interleaved; then `git push` → the web dyno serving the new code.

use std::process::Command;
use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{ask, push, up, wait_dynos};
use addon_broker_tests::git::{remote_url, Repo};
use addon_broker_tests::packages::{pack, py_index, python_app, write_files};
use addon_broker_tests::{Options, TestApp};
use broker::auth::Scope;

use crate::{median, ms};

/// `pip install -r requirements.txt` into a fresh venv with an empty pip cache.
fn plain_pip(requirements: &[u8]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("requirements.txt"), requirements).unwrap();
    let t = Instant::now();
    let ok = Command::new("/usr/bin/python3")
        .args(["-m", "venv", ".venv"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let mut pip = Command::new(dir.path().join(".venv/bin/pip"));
    pip.args(["install", "-q", "-r", "requirements.txt"])
        .current_dir(dir.path())
        .env("PIP_CACHE_DIR", dir.path().join("cache"));
    py_index().isolate(&mut pip);
    assert!(pip.status().unwrap().success());
    t.elapsed()
}

/// The version the app's web dyno reports, once one answers.
async fn served_version(api: &addon_broker_tests::Api, app: &str, want: &str, deadline: Instant) {
    loop {
        let r = api.get(&format!("/apps/{app}/dynos")).await;
        let list = r.body.as_array().cloned().unwrap_or_default();
        for d in up(&list, "web") {
            if let Some(v) = ask(d["port"].as_u64().unwrap_or(0), "/").await {
                if v["version"] == want {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "version {want} never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `runs` × (plain pip, cold build, warm build), then 5 × `git push` → serving.
pub async fn run(runs: usize) {
    let app = TestApp::spawn_with(Options {
        pip_index_url: Some(py_index().url()),
        ..Options::default()
    })
    .await;
    let api = app.api("bench", Scope::Platform);
    let files = python_app("b0");
    let requirements = files.iter().find(|f| f.0 == "requirements.txt").unwrap().1.clone();
    let (mut pip, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs.max(1) {
        pip.push(plain_pip(&requirements));
        let name = api.create_app().await;
        let t = Instant::now();
        assert_eq!(
            push(&api, &name, pack(&python_app(&format!("c{i}")))).await["status"],
            "succeeded"
        );
        cold.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(
            push(&api, &name, pack(&python_app(&format!("w{i}")))).await["status"],
            "succeeded"
        );
        warm.push(t.elapsed());
        api.delete(&format!("/apps/{name}")).await;
    }
    let (p, c, w) = (median(pip), median(cold), median(warm));
    println!(
        "Python example app ({} runs, interleaved; the builds include the release phase)",
        runs.max(1)
    );
    println!("  plain venv + pip install -r (cold pip cache): {:8.0} ms", ms(p));
    println!(
        "  broker build, cold cache:                      {:8.0} ms  ({:.2}x plain pip)",
        ms(c),
        ms(c) / ms(p)
    );
    println!(
        "  broker build, warm cache:                      {:8.0} ms  ({:.2}x plain pip, {:.2}x cold)",
        ms(w),
        ms(w) / ms(p),
        ms(w) / ms(c)
    );

    // git push → the web dyno serving the pushed code.
    let name = api.create_app().await;
    let token = app.token("bench", Scope::Platform);
    let url = remote_url(&app.url, &name, &token);
    let repo = Repo::new();
    let mut pushes = Vec::new();
    for i in 0..6 {
        let version = format!("g{i}");
        write_files(&repo.path(), &python_app(&version));
        repo.commit(&version, &[]);
        let t = Instant::now();
        let out = repo.git(&["push", "--quiet", "--force", &url, "HEAD:main"]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        served_version(&api, &name, &version, Instant::now() + Duration::from_secs(120)).await;
        // The first push fills the build cache; the next five are measured.
        if i > 0 {
            pushes.push(t.elapsed());
        }
    }
    wait_dynos(&api, &name, "web up", |l| !up(l, "web").is_empty()).await;
    let sorted = {
        let mut v = pushes.clone();
        v.sort();
        v
    };
    println!(
        "  git push -> web dyno serving the new code (warm cache, median of 5): {:.0} ms (min {:.0}, max {:.0})",
        ms(median(pushes)),
        ms(sorted[0]),
        ms(*sorted.last().unwrap())
    );
}
