//! Recovery from backend restarts: the time from a backend's return to the broker's first
//! success, beside the time a fresh client of that backend takes to connect (the anchor).
//!
//! - State store: a broker on a PostgreSQL server of its own; each run stops the server,
//!   keeps it down 3 s (requests meanwhile get 503), restarts it, then times the first
//!   `POST /apps` answered 201, and a fresh `tokio_postgres` connection beside it.
//! - Redis: a broker whose `redis` service is on a Redis server of its own; each run restarts
//!   the server, then times a synchronous OSB bind (201), and a fresh client's `PING`.

use std::time::{Duration, Instant};

use addon_broker_tests::{blocking, broker_on_own_state_store, Options, TestApp};
use broker::devservers::RedisServer;
use serde_json::json;

use crate::{median, ms};

/// Runs both, `runs` times each, and prints medians and the worst run.
pub async fn run(runs: usize) {
    let runs = runs.max(1);
    let (broker, anchor) = state_store(runs).await;
    report(
        "state store (PostgreSQL)",
        "POST /apps",
        "tokio_postgres connect",
        broker,
        anchor,
    );
    let (broker, anchor) = redis(runs).await;
    report("Redis", "OSB bind (sync)", "redis connect + PING", broker, anchor);
}

fn report(what: &str, op: &str, anchor_op: &str, broker: Vec<Duration>, anchor: Vec<Duration>) {
    let worst = broker.iter().max().copied().unwrap_or_default();
    println!(
        "{what}: back → first {op} success: median {:.0} ms, worst {:.0} ms ({} runs); \
         back → {anchor_op}: median {:.1} ms",
        ms(median(broker.clone())),
        ms(worst),
        broker.len(),
        ms(median(anchor))
    );
}

async fn state_store(runs: usize) -> (Vec<Duration>, Vec<Duration>) {
    let (app, mut pg) = broker_on_own_state_store().await;
    let api = app.platform();
    api.create_app().await;
    let (mut broker, mut anchor) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        pg = blocking(move || {
            pg.stop();
            pg
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        pg = blocking(move || {
            pg.restart().unwrap();
            pg
        })
        .await;
        let back = Instant::now();
        let url = pg.url("state");
        let raw = tokio::spawn(async move {
            let t = Instant::now();
            let (_c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            drop(conn);
            t.elapsed()
        });
        while api.post("/apps", json!({})).await.status != 201 {
            assert!(
                back.elapsed() < Duration::from_secs(120),
                "the state store never recovered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        broker.push(back.elapsed());
        anchor.push(raw.await.unwrap());
    }
    (broker, anchor)
}

async fn redis(runs: usize) -> (Vec<Duration>, Vec<Duration>) {
    let mut server = blocking(|| RedisServer::start().unwrap()).await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(server.url()),
        ..Options::default()
    })
    .await;
    let osb = app.osb();
    let plan = osb.plan("redis", "shared").await;
    let (id, _) = osb.bound(&plan, "recovery").await;
    let (mut broker, mut anchor) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        server = blocking(move || {
            server.restart().unwrap();
            server
        })
        .await;
        let back = Instant::now();
        let url = server.url();
        let raw = tokio::spawn(async move {
            let t = Instant::now();
            let mut c = redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            redis::cmd("PING").query_async::<String>(&mut c).await.unwrap();
            t.elapsed()
        });
        while osb
            .bind(&id, &addon_broker_tests::unique("b"), &plan, json!({}), false)
            .await
            .status
            != 201
        {
            assert!(back.elapsed() < Duration::from_secs(120), "Redis never recovered");
        }
        broker.push(back.elapsed());
        anchor.push(raw.await.unwrap());
    }
    (broker, anchor)
}
