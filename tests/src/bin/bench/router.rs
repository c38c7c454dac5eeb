//! `router` (only with `--only router`): `wrk` against one `sample-dyno http` web dyno three
//! ways in one run: directly, through nginx (Debian's package, a keep-alive reverse proxy with
//! the same forwarded headers and an access log), and through the router (into the dyno's
//! network namespace, and, from a second broker, through pasta's forward); requests per second
//! and the p50/p99 each proxy adds over the direct path. Then a rolling restart (a config
//! change on a 2×web app) under 500 requests per second, counting every failed request.

use std::process::Command;
use std::time::{Duration, Instant};

use addon_broker_tests::dynos::{up, wait_dynos};
use addon_broker_tests::router::{http_app, Router};
use addon_broker_tests::{Options, TestApp};

/// What `wrk --latency` reported.
#[derive(Debug, Clone, Copy)]
struct Wrk {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

/// `wrk` with 2 threads and `connections` keep-alive connections for `seconds`.
fn wrk(url: &str, host: &str, connections: usize, seconds: u64) -> Wrk {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
        ])
        .args(["-H", &format!("Host: {host}"), url])
        .output()
        .expect("wrk (scripts/bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(!text.contains("Non-2xx"), "wrk saw errors: {text}");
    let field = |prefix: &str| -> &str {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .trim()
    };
    Wrk {
        rps: field("Requests/sec:").parse().unwrap(),
        p50_us: micros(field("50%")),
        p99_us: micros(field("99%")),
    }
}

/// `wrk`'s `1.23ms` / `456.00us` / `1.2s` in microseconds.
fn micros(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().unwrap();
    match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        other => panic!("unit {other}"),
    }
}

/// nginx as a keep-alive reverse proxy to `port`, on a free port; returns its port and the
/// process (stopped on drop of the directory's owner).
fn nginx(dir: &std::path::Path, upstream: u16) -> (u16, std::process::Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = format!(
        r#"worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log {dir}/access.log combined buffer=64k;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream dyno {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://dyno;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Request-Id $request_id;
    }}
  }}
}}
"#,
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .args([
            "-c",
            &dir.join("nginx.conf").display().to_string(),
            "-p",
            &dir.display().to_string(),
        ])
        .spawn()
        .expect("nginx (scripts/bench installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (port, child)
}

/// Throughput and added latency, direct vs nginx vs the router (inside the dyno's namespace,
/// the default, and through pasta's forward, as nginx must); then the restart under load.
pub async fn run(seconds: u64, connections: usize) {
    let app = TestApp::spawn_with(Options::default()).await;
    let api = app.platform();
    let name = http_app(&api, 1).await;
    let list = wait_dynos(&api, &name, "web up", |l| up(l, "web").len() == 1).await;
    let dyno_port = list[0]["port"].as_u64().unwrap() as u16;
    // A second broker whose router goes through the forward, with a dyno of its own.
    let forwarded = TestApp::spawn_with(Options {
        enter_namespaces: false,
        ..Default::default()
    })
    .await;
    let fwd_api = forwarded.platform();
    let fwd_name = http_app(&fwd_api, 1).await;
    wait_dynos(&fwd_api, &fwd_name, "web up", |l| up(l, "web").len() == 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (nginx_port, mut nginx) = nginx(dir.path(), dyno_port);
    let host = format!("{name}.localhost");
    let targets = [
        ("direct", format!("http://127.0.0.1:{dyno_port}/hello"), host.clone()),
        ("nginx", format!("http://127.0.0.1:{nginx_port}/hello"), host.clone()),
        (
            "router",
            format!("{}/hello", Router::new(&app.router_url).base),
            host.clone(),
        ),
        (
            "router, forward",
            format!("{}/hello", Router::new(&forwarded.router_url).base),
            format!("{fwd_name}.localhost"),
        ),
    ];
    // Warm every path, then alternate rounds so that drift on the machine hits all alike.
    for (_, url, host) in &targets {
        wrk(url, host, connections, 1);
    }
    let mut results: Vec<Vec<Wrk>> = vec![Vec::new(); targets.len()];
    for _ in 0..3 {
        for (i, (_, url, host)) in targets.iter().enumerate() {
            results[i].push(wrk(url, host, connections, seconds));
        }
    }
    // SIGTERM to the master stops its workers too (SIGKILL would leave them behind).
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(nginx.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = nginx.wait();
    drop(forwarded);
    let best = |rs: &[Wrk]| {
        let mut v = rs.to_vec();
        v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        v[v.len() / 2]
    };
    let medians: Vec<Wrk> = results.iter().map(|r| best(r)).collect();
    let (direct, via_nginx) = (medians[0], medians[1]);
    println!("router: wrk -t2 -c{connections} -d{seconds}s, median of 3 rounds, GET /hello (11 bytes)");
    for ((label, _, _), w) in targets.iter().zip(&medians) {
        println!(
            "  {label:>15}: {:>9.0} req/s  p50 {:>7.0} us  p99 {:>7.0} us  added p50 {:>6.0} us  p99 {:>6.0} us",
            w.rps,
            w.p50_us,
            w.p99_us,
            w.p50_us - direct.p50_us,
            w.p99_us - direct.p99_us
        );
    }
    println!("  router/nginx throughput: {:.2}x", medians[2].rps / via_nginx.rps);
    println!(
        "  router (forward)/nginx throughput: {:.2}x",
        medians[3].rps / via_nginx.rps
    );
    restart_under_load(&app, &api).await;
}

/// A config change on a 2×web app while 500 requests per second go through the router.
async fn restart_under_load(app: &TestApp, api: &addon_broker_tests::Api) {
    let name = http_app(api, 2).await;
    let host = format!("{name}.localhost");
    let router = Router::new(&app.router_url);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(paced(router.clone(), host.clone(), 500, stop_rx));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = Instant::now();
    api.patch(
        &format!("/apps/{name}/config-vars"),
        serde_json::json!({ "MARK": "new" }),
    )
    .await
    .expect(200);
    let mut replaced = std::collections::HashSet::new();
    while replaced.len() < 2 {
        let (_, body) = router.get(&host, "/").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v["mark"] == "new" {
            replaced.insert(v["dyno"].as_str().unwrap_or_default().to_string());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rollout = t.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_tx.send(true).unwrap();
    let (sent, failed) = load.await.unwrap();
    println!(
        "router: rolling restart of 2 web dynos (config change) under 500 req/s: {sent} requests, {failed} failed, rollout {:.1} s",
        rollout.as_secs_f64()
    );
}

/// Requests at `rate` per second until `stop`, each on its own task: (sent, failed).
async fn paced(router: Router, host: String, rate: u64, stop: tokio::sync::watch::Receiver<bool>) -> (u64, u64) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0;
    while !*stop.borrow() {
        tick.tick().await;
        sent += 1;
        let (r, h) = (router.clone(), host.clone());
        tasks.spawn(async move {
            match r.request(reqwest::Method::GET, &h, "/hello").send().await {
                Ok(resp) => resp.status() == 200 && resp.bytes().await.is_ok(),
                Err(_) => false,
            }
        });
    }
    let mut failed = 0;
    while let Some(ok) = tasks.join_next().await {
        if !ok.unwrap_or(false) {
            failed += 1;
        }
    }
    (sent, failed)
}
