//! Benchmarks of the broker against its anchors, run side by side on this machine:
//!
//! - `provision`: N × (OSB provision + bind, synchronous) through a real broker over HTTP, vs
//!   the same SQL statements the adapter issues, sent directly over one connection.
//! - `catalog`: `GET /v2/catalog` requests per second over keep-alive connections.
//!
//! `cargo run --release -p addon-broker-tests --bin bench -- [--instances N] [--seconds S] [--connections C]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use addon_broker_tests::{pg_connect, unique, Options, StateBackend, TestApp};
use base64::Engine;
use providers::postgres::{bind_statements, provision_statements};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Args {
    instances: usize,
    seconds: u64,
    connections: usize,
}

fn args() -> Args {
    let mut a = Args {
        instances: 100,
        seconds: 5,
        connections: 32,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair
            .get(1)
            .and_then(|v| v.parse::<u64>().ok())
            .expect("flags take a number");
        match pair[0].as_str() {
            "--instances" => a.instances = value as usize,
            "--seconds" => a.seconds = value,
            "--connections" => a.connections = value as usize,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
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
    let app = TestApp::spawn_with(Options {
        state: StateBackend::Sqlite,
        ..Options::default()
    })
    .await;
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
