//! Benchmarks of the broker against its anchors, run side by side on this machine:
//!
//! - `provision`: N × (OSB provision + bind, synchronous) through a real broker over HTTP, vs
//!   the same SQL statements the adapter issues, sent directly over one connection.
//! - `redis`: N × (provision + bind) through the broker vs `ACL SETUSER` + `ACL SAVE` directly.
//! - `kafka`: N × (provision + bind + topic PUT) through the broker vs a metadata request and
//!   `CreateTopics` directly.
//! - `concurrency`: C concurrent `redis:shared` provision+bind pairs; every one must succeed.
//! - `platform`: N × `addons:create redis:shared` through the platform API (request to the
//!   release carrying `REDIS_URL`) vs OSB provision + bind alone; medians and p99s.
//! - `catalog`: `GET /v2/catalog` requests per second over keep-alive connections.
//! - `dynos`: `addons:create postgresql:shared` until every dyno of a 2×web app serves with
//!   the new `DATABASE_URL`; dyno start (formation scale to serving) vs bubblewrap starting the
//!   same process by hand; memory of each dyno's plumbing (`--runs R`, default 20).
//! - `access` (only with `--only access`): N × authenticated `GET /apps/{app}` as the owner
//!   and as a collaborator, on SQLite and PostgreSQL state, beside `GET /healthz`; medians
//!   and p99s (run with `BROKER_BIN` set to an older binary for "before").
//! - `cli` (only with `--only cli`): `broker ps` (the real binary) vs `curl` of the same
//!   `GET /apps/{app}/dynos`, median of R runs each (`--runs R`, default 20).
//! - `partner`: N × provision through the HTTP adapter (OSB PUT, synchronous) against the
//!   reference provider vs the same signed request sent to the provider directly.
//!
//! - `typing` (only with `--only typing`): the characters a person types for the README's
//!   Heroku 101 flow with this CLI vs the same steps with Heroku's CLI.
//!
//! - `builds` (only with `--only builds`): buildpack builds, cold and warm, vs plain pip;
//!   `git push` → serving (`builds.rs`).
//! - `attach` (only with `--only attach`): keystroke echo latency of an interactive
//!   `broker run bash` (200 keystrokes typed one at a time, or `--runs R` when larger) vs the
//!   same keystrokes to `bash` in a local PTY; medians and p99s.
//!
//! - `router` (only with `--only router`): `wrk` straight at a web dyno, through nginx and
//!   through the router (requests per second, added p50/p99), then a rolling restart under
//!   500 req/s counting failed requests (`router.rs`).
//!
//! - `recovery` (only with `--only recovery`): time from a backend's return to the broker's
//!   first success, for its PostgreSQL state store and for Redis (`--runs R`) (`recovery.rs`).
//!
//! `scripts/bench [--instances N] [--seconds S] [--connections C] [--concurrent C] [--runs R]
//! [--only dynos|partner|access|typing|cli|attach|builds|router|recovery]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use addon_broker_tests::{pg_connect, unique, Options, StateBackend, TestApp};

mod access;
mod attach;
mod builds;
mod cli;
mod dynos;
mod partner;
mod recovery;
mod router;
mod typing;
use base64::Engine;
use providers::postgres::{bind_statements, provision_statements};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Args {
    instances: usize,
    seconds: u64,
    connections: usize,
    concurrent: usize,
    runs: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        instances: 100,
        seconds: 5,
        connections: 32,
        concurrent: 1000,
        runs: 20,
        only: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        if pair[0] == "--only" {
            a.only = pair.get(1).cloned();
            continue;
        }
        let value = pair
            .get(1)
            .and_then(|v| v.parse::<u64>().ok())
            .expect("flags take a number");
        match pair[0].as_str() {
            "--instances" => a.instances = value as usize,
            "--seconds" => a.seconds = value,
            "--connections" => a.connections = value as usize,
            "--concurrent" => a.concurrent = value as usize,
            "--runs" => a.runs = value as usize,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One keep-alive connection sending `GET /v2/catalog` back to back until `deadline`.
async fn catalog_loop(addr: String, auth: String, deadline: Instant) -> u64 {
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "GET /v2/catalog HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nX-Broker-API-Version: 2.17\r\n\r\n"
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = 0u64;
    while Instant::now() < deadline {
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut filled = 0usize;
        loop {
            let n = stream.read(&mut buf[filled..]).await.unwrap();
            assert!(n > 0, "connection closed");
            filled += n;
            if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).unwrap();
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap();
                if filled >= end + 4 + len {
                    break;
                }
            }
        }
        done += 1;
    }
    done
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    if args.only.as_deref() == Some("builds") {
        builds::run(args.runs).await;
        return;
    }
    if args.only.as_deref() == Some("router") {
        router::run(args.seconds, args.connections).await;
        return;
    }
    if args.only.as_deref() == Some("recovery") {
        recovery::run(args.runs).await;
        return;
    }
    if args.only.as_deref() == Some("typing") {
        typing::run();
        return;
    }
    let app = TestApp::spawn_with(Options {
        state: StateBackend::Sqlite,
        ..Options::default()
    })
    .await;
    if args.only.as_deref() == Some("access") {
        access::run(args.instances).await;
        return;
    }
    if args.only.as_deref() == Some("dynos") {
        dynos::run(&app, args.runs).await;
        return;
    }
    if args.only.as_deref() == Some("cli") {
        cli::run(&app, args.runs).await;
        return;
    }
    if args.only.as_deref() == Some("partner") {
        partner::run(&app, args.instances).await;
        return;
    }
    if args.only.as_deref() == Some("attach") {
        attach::run(&app, args.runs.max(200)).await;
        return;
    }
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let raw = pg_connect("postgres").await;

    // Warm both paths (connection pools, catalogs) before measuring.
    for _ in 0..3 {
        let id = unique("warm");
        osb.provision(&id, &plan, json!({}), false).await.expect(201);
        osb.bind(&id, &unique("w"), &plan, json!({}), false).await.expect(201);
        for sql in provision_statements(&unique("warmraw"), 20) {
            raw.batch_execute(&sql).await.unwrap();
        }
    }

    let mut broker_times = Vec::with_capacity(args.instances);
    let mut raw_times = Vec::with_capacity(args.instances);
    let (mut bp, mut bb, mut rp, mut rb): (Vec<Duration>, Vec<Duration>, Vec<Duration>, Vec<Duration>) =
        Default::default();
    for _ in 0..args.instances {
        // Alternate the two so that drift on the machine affects both alike.
        let (id, bid) = (unique("bench"), unique("bb"));
        let t = Instant::now();
        osb.provision(&id, &plan, json!({}), false).await.expect(201);
        let provisioned = t.elapsed();
        osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201);
        broker_times.push(t.elapsed());
        bp.push(provisioned);
        bb.push(t.elapsed() - provisioned);

        let (id, bid) = (unique("raw"), unique("rb"));
        let password = providers::names::random_password(32);
        let t = Instant::now();
        for sql in provision_statements(&id, 20) {
            raw.batch_execute(&sql).await.unwrap();
        }
        let provisioned = t.elapsed();
        for sql in bind_statements(&id, &bid, &password) {
            raw.batch_execute(&sql).await.unwrap();
        }
        raw_times.push(t.elapsed());
        rp.push(provisioned);
        rb.push(t.elapsed() - provisioned);
    }
    let (b, r) = (median(broker_times), median(raw_times));
    println!("provision+bind, {} instances, sequential", args.instances);
    println!("  broker (OSB over HTTP, SQLite state): median {:.2} ms", ms(b));
    println!("  raw SQL (same statements, one connection): median {:.2} ms", ms(r));
    println!(
        "  ratio broker/raw: {:.3}  (overhead {:.2} ms)",
        ms(b) / ms(r),
        ms(b) - ms(r)
    );

    println!(
        "  of which provision: broker {:.2} ms, raw {:.2} ms; bind: broker {:.2} ms, raw {:.2} ms",
        ms(median(bp)),
        ms(median(rp)),
        ms(median(bb)),
        ms(median(rb))
    );

    redis_vs_acl_setuser(&app, args.instances).await;
    kafka_vs_create_topics(&app, args.instances).await;
    concurrent_redis(&app, args.concurrent).await;
    platform_vs_osb(&app, args.instances).await;

    dynos::run(&app, args.runs).await;
    partner::run(&app, args.instances).await;

    let addr = app.url.trim_start_matches("http://").to_string();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", app.user, app.password));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(catalog_loop(addr.clone(), auth.clone(), deadline)))
        .collect();
    let mut total = 0u64;
    for t in tasks {
        total += t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "catalog GET: {total} requests in {secs:.1} s over {} connections = {:.0} requests/s",
        args.connections,
        total as f64 / secs
    );
}

fn report(name: &str, n: usize, ops: usize, broker: Vec<Duration>, raw: Vec<Duration>, raw_name: &str) {
    let (b, r) = (median(broker), median(raw));
    println!("{name}, {n} instances, sequential");
    println!("  broker: median {:.2} ms for {ops} requests", ms(b));
    println!("  {raw_name}: median {:.2} ms", ms(r));
    println!(
        "  ratio broker/raw: {:.3}; overhead {:.2} ms, {:.2} ms per request",
        ms(b) / ms(r),
        ms(b) - ms(r),
        (ms(b) - ms(r)) / ops as f64
    );
}

async fn redis_vs_acl_setuser(app: &TestApp, n: usize) {
    let osb = app.osb();
    let plan = osb.plan("redis", "shared").await;
    let mut admin = redis::Client::open(addon_broker_tests::servers().redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let (mut broker, mut raw) = (Vec::new(), Vec::new());
    for i in 0..n + 3 {
        let (id, bid) = (unique("rbench"), unique("rb"));
        let t = Instant::now();
        osb.provision(&id, &plan, json!({}), false).await.expect(201);
        osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201);
        let b = t.elapsed();

        let (id, bid) = (unique("rraw"), unique("rr"));
        let user = providers::redis::binding_user(&id, &bid);
        let rules = providers::redis::acl_rules(&id, "shared", &providers::names::random_password(32));
        let t = Instant::now();
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg(rules)
            .query_async::<()>(&mut admin)
            .await
            .unwrap();
        redis::cmd("ACL")
            .arg("SAVE")
            .query_async::<()>(&mut admin)
            .await
            .unwrap();
        let r = t.elapsed();
        if i >= 3 {
            broker.push(b);
            raw.push(r);
        }
    }
    report("redis provision+bind", n, 2, broker, raw, "raw ACL SETUSER + ACL SAVE");
}

async fn kafka_vs_create_topics(app: &TestApp, n: usize) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;

    let osb = app.osb();
    let plan = osb.plan("kafka", "shared").await;
    let bootstrap = addon_broker_tests::servers().kafka.bootstrap();
    let admin: std::sync::Arc<AdminClient<DefaultClientContext>> = std::sync::Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap(),
    );
    let (mut broker, mut raw) = (Vec::new(), Vec::new());
    for i in 0..n + 3 {
        let (id, bid) = (unique("kbench"), unique("kb"));
        let topic = format!("{}events", providers::kafka::topic_prefix(&id));
        let t = Instant::now();
        osb.provision(&id, &plan, json!({}), false).await.expect(201);
        osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201);
        let path = format!("/v2/service_instances/{id}/topics/{topic}");
        osb.send(osb.request(reqwest::Method::PUT, &path).json(&json!({"partitions": 1})))
            .await
            .expect(201);
        let b = t.elapsed();

        let topic = format!("{}events", providers::kafka::topic_prefix(&unique("kraw")));
        let t = Instant::now();
        let a = admin.clone();
        tokio::task::spawn_blocking(move || a.inner().fetch_metadata(None, Duration::from_secs(10)).map(|_| ()))
            .await
            .unwrap()
            .unwrap();
        let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(1)).set("retention.ms", "86400000");
        let result = admin.create_topics(&[new], &AdminOptions::new()).await.unwrap();
        assert!(result[0].is_ok());
        let r = t.elapsed();
        if i >= 3 {
            broker.push(b);
            raw.push(r);
        }
    }
    report(
        "kafka provision+bind+topic",
        n,
        3,
        broker,
        raw,
        "raw metadata + CreateTopics",
    );
}

async fn concurrent_redis(app: &TestApp, n: usize) {
    let osb = app.osb();
    let plan = osb.plan("redis", "shared").await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (osb, plan) = (osb.clone(), plan.clone());
            tokio::spawn(async move {
                let (id, bid) = (unique("conc"), unique("cb"));
                let p = osb.provision(&id, &plan, json!({}), false).await;
                if p.status != 201 {
                    return Err(format!("provision {}: {}", p.status, p.body));
                }
                let b = osb.bind(&id, &bid, &plan, json!({}), false).await;
                if b.status != 201 {
                    return Err(format!("bind {}: {}", b.status, b.body));
                }
                Ok(())
            })
        })
        .collect();
    let mut errors = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            errors.push(e);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "concurrent redis:shared provision+bind: {n} at once, {} errors, {secs:.2} s wall, {:.0} pairs/s",
        errors.len(),
        n as f64 / secs
    );
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
}

pub(crate) fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

async fn platform_vs_osb(app: &TestApp, n: usize) {
    let api = app.platform();
    let osb = app.osb();
    let plan = osb.plan("redis", "shared").await;
    let (mut platform, mut direct) = (Vec::new(), Vec::new());
    for i in 0..n + 3 {
        let name = api.create_app().await;
        let t = Instant::now();
        api.post(&format!("/apps/{name}/addons"), json!({ "plan": "redis:shared" }))
            .await
            .expect(201);
        let p = t.elapsed();
        // The 201 is sent after the release that carries REDIS_URL is committed.
        assert!(api.config(&name).await.contains_key("REDIS_URL"));

        let (id, bid) = (unique("pbench"), unique("pb"));
        let t = Instant::now();
        osb.provision(&id, &plan, json!({}), false).await.expect(201);
        osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201);
        let d = t.elapsed();
        if i >= 3 {
            platform.push(p);
            direct.push(d);
        }
    }
    let (pm, p99) = (median(platform.clone()), percentile(platform, 0.99));
    let (dm, d99) = (median(direct.clone()), percentile(direct, 0.99));
    println!("addons:create redis:shared, {n} runs, sequential");
    println!(
        "  platform API (to the release with REDIS_URL): median {:.2} ms, p99 {:.2} ms",
        ms(pm),
        ms(p99)
    );
    println!(
        "  OSB provision+bind alone: median {:.2} ms, p99 {:.2} ms",
        ms(dm),
        ms(d99)
    );
    println!("  ratio of medians: {:.3}", ms(pm) / ms(dm));
}
