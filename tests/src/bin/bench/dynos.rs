//! Dyno runtime benchmarks: add-on to serving dynos, dyno start against bubblewrap alone, and
//! the memory each dyno's plumbing costs.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{ask, push, sample_app, sample_binary, up, wait_dynos, PROCFILE};
use addon_broker_tests::TestApp;
use runtime::Runtime;
use serde_json::{json, Value};

use super::{median, ms, percentile};

/// Runs the dyno benchmarks `runs` times each.
pub async fn run(app: &TestApp, runs: usize) {
    addon_to_dynos(app, runs).await;
    start_latency(app, runs).await;
    plumbing_memory(app).await;
}

fn web_ports(list: &[Value]) -> Vec<u64> {
    up(list, "web").iter().filter_map(|d| d["port"].as_u64()).collect()
}

async fn addon_to_dynos(app: &TestApp, runs: usize) {
    let api = app.platform();
    let (mut total, mut provision) = (Vec::new(), Vec::new());
    for i in 0..runs + 2 {
        let name = api.create_app().await;
        push(&api, &name, sample_app(PROCFILE)).await;
        api.patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 2}))
            .await
            .expect(200);
        wait_dynos(&api, &name, "web=2", |l| up(l, "web").len() == 2).await;
        let t = Instant::now();
        api.post(&format!("/apps/{name}/addons"), json!({"plan": "postgresql:shared"}))
            .await
            .expect(201);
        let provisioned = t.elapsed();
        let url = api.config(&name).await["DATABASE_URL"].as_str().unwrap().to_string();
        // Done when both web dynos answer, each reporting the new DATABASE_URL.
        loop {
            let list = api.get(&format!("/apps/{name}/dynos")).await.body;
            let ports = web_ports(list.as_array().unwrap());
            let mut fresh = 0;
            for p in &ports {
                if let Some(me) = ask(*p, "/").await {
                    fresh += usize::from(me["env"]["DATABASE_URL"] == url.as_str());
                }
            }
            if fresh == 2 && ports.len() == 2 {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "dynos never restarted: {list}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if i >= 2 {
            total.push(t.elapsed());
            provision.push(provisioned);
        }
        api.patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 0}))
            .await
            .expect(200);
    }
    println!("addons:create postgresql:shared → both dynos of a 2×web app serve the new DATABASE_URL, {runs} runs");
    println!(
        "  total: median {:.1} ms, p99 {:.1} ms (of which the 201 of addons:create: median {:.1} ms)",
        ms(median(total.clone())),
        ms(percentile(total, 0.99)),
        ms(median(provision))
    );
}

/// Time until `port` accepts a connection.
async fn until_serving(port: u64, t: Instant) -> Duration {
    loop {
        // An answer, not a connection: with its own network a dyno's port is pasta's, which
        // accepts before the app listens.
        if answers(port as u16).await {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "port {port} never served");
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

/// Whether an HTTP request to `127.0.0.1:port` gets a status line back.
async fn answers(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.is_ok() && head.starts_with(b"HTTP/1.")
}

fn free_port() -> u64 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    u64::from(l.local_addr().unwrap().port())
}

/// bubblewrap by hand: the same user, namespaces and mounts as a dyno; no broker, no cgroups,
/// no copy of the app.
async fn bare_bwrap(dir: &std::path::Path) -> Duration {
    let port = free_port();
    let t = Instant::now();
    // As the runtime runs it: unprivileged (as nobody when we are root), in a user namespace.
    let mut cmd = if nix::unistd::geteuid().is_root() {
        let mut c = Command::new("/usr/bin/setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "bwrap"]);
        c
    } else {
        Command::new("bwrap")
    };
    let mut child = cmd
        .args([
            "--die-with-parent",
            "--new-session",
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
        ])
        .args(["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"])
        .args([
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
        ])
        .args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--bind"])
        .arg(dir)
        .args(["/app", "--chdir", "/app", "--", "/bin/sh", "-c", "./sample-dyno web"])
        .env_clear()
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let took = until_serving(port, t).await;
    let _ = child.kill();
    let _ = child.wait();
    took
}

async fn start_latency(app: &TestApp, runs: usize) {
    let api = app.platform();
    let name = api.create_app().await;
    push(&api, &name, sample_app(PROCFILE)).await;
    wait_dynos(&api, &name, "web.1", |l| up(l, "web").len() == 1).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let slug = dir.path().join("slug");
    std::fs::create_dir(&slug).unwrap();
    std::fs::set_permissions(&slug, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::copy(sample_binary(), slug.join("sample-dyno")).unwrap();
    // Roots of their own: the broker stops containers in its root that belong to no app.
    std::fs::create_dir(dir.path().join("own")).unwrap();
    std::fs::create_dir(dir.path().join("host")).unwrap();
    let isolated = runtime::network::LocalNetwork::Isolated {
        pasta: "pasta".into(),
        enter_namespaces: true,
    };
    let rt = addon_broker_tests::runtime_at(&dir.path().join("own"), isolated);
    let rt_host = addon_broker_tests::runtime_at(&dir.path().join("host"), runtime::network::LocalNetwork::Host);
    let (mut broker, mut runtime_api, mut bare, mut host) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs + 2 {
        // The broker: PATCH the formation, until the new dyno serves on its port.
        let t = Instant::now();
        api.patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 2}))
            .await
            .expect(200);
        let port = loop {
            let list = api.get(&format!("/apps/{name}/dynos")).await.body;
            if let Some(p) = list
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["name"] == "web.2")
                .and_then(|d| d["port"].as_u64())
            {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let b = until_serving(port, t).await;
        api.patch(&format!("/apps/{name}/formation/web"), json!({"quantity": 1}))
            .await
            .expect(200);
        wait_dynos(&api, &name, "web=1", |l| {
            l.iter().filter(|d| d["type"] == "web").count() == 1
        })
        .await;

        // The runtime's API alone (copy, cgroups, pasta, bubblewrap), no broker; and the
        // same on the host's network, for what the network namespace adds.
        let r = runtime_start(&rt, &slug, &format!("bench-{i}")).await;
        let h = runtime_start(&rt_host, &slug, &format!("bench-host-{i}")).await;
        let raw = bare_bwrap(&slug).await;
        if i >= 2 {
            broker.push(b);
            runtime_api.push(r);
            host.push(h);
            bare.push(raw);
        }
    }
    let (b, r, x, h) = (median(broker), median(runtime_api), median(bare), median(host));
    println!("dyno start until its port serves, {runs} runs");
    println!(
        "  bubblewrap by hand (same user, namespaces and mounts): median {:.1} ms",
        ms(x)
    );
    println!(
        "  runtime crate start, host network (copy + cgroups + bubblewrap): median {:.1} ms",
        ms(h)
    );
    println!(
        "  runtime crate start, own network (copy + cgroups + pasta + bubblewrap): median {:.1} ms",
        ms(r)
    );
    println!("  the network namespace adds {:.1} ms", ms(r) - ms(h));
    println!("  broker (PATCH formation → serving): median {:.1} ms", ms(b));
    println!(
        "  broker above bubblewrap: {:.1} ms; runtime above bubblewrap: {:.1} ms",
        ms(b) - ms(x),
        ms(r) - ms(x)
    );
}

/// One container of the sample dyno started by `rt`, until it answers on its port.
async fn runtime_start(rt: &runtime::local::LocalRuntime, dir: &std::path::Path, id: &str) -> Duration {
    let port = free_port();
    let t = Instant::now();
    rt.start(runtime::ContainerSpec {
        id: id.to_string(),
        labels: BTreeMap::new(),
        hostname: "bench".into(),
        command: "./sample-dyno web".into(),
        env: BTreeMap::from([("PORT".to_string(), port.to_string())]),
        app_source: dir.to_path_buf(),
        share_app: false,
        mounts: Vec::new(),
        limits: runtime::Limits {
            memory_bytes: 512 << 20,
            max_processes: 256,
        },
        io: runtime::ContainerIo::Logged,
        network: runtime::NetworkPolicy {
            inbound: vec![port as u16],
            ..Default::default()
        },
    })
    .await
    .unwrap();
    let serving = tokio::spawn(until_serving(port, t)).await;
    let Ok(took) = serving else {
        let out = rt.output(id, 0, 1 << 16).await.unwrap().bytes;
        let status = rt.status(id).await.unwrap();
        panic!("{id} never served: {status:?}\n{}", String::from_utf8_lossy(&out));
    };
    rt.stop(id, Duration::from_secs(1)).await.unwrap();
    rt.remove(id).await.unwrap();
    took
}

fn rss_kib(pid: i32) -> (String, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let rss = field("VmRSS:")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (field("Name:"), rss)
}

async fn plumbing_memory(app: &TestApp) {
    let rt = app.runtime();
    let running: Vec<_> = rt.list().await.unwrap().into_iter().filter(|c| c.running()).collect();
    let Some(c) = running.first() else {
        println!("dyno memory: no running dyno to measure");
        return;
    };
    let mut plumbing = 0;
    let mut parts = Vec::new();
    for pid in rt.cgroups().procs(&c.id) {
        let (name, kib) = rss_kib(pid);
        if name != "sample-dyno" {
            plumbing += kib;
        }
        parts.push(format!("{name} {kib} KiB"));
    }
    println!("memory of one web dyno's processes (VmRSS): {}", parts.join(", "));
    println!("  plumbing per dyno (everything but the app): {plumbing} KiB");
    if let Some(bytes) = rt.cgroups().memory_usage(&c.id) {
        println!(
            "  the dyno's cgroup charge (app included, page cache too): {} KiB",
            bytes / 1024
        );
    }
}
