//! Build archives are streamed to disk within bounds: a stalled or slow upload is cut off with
//! a clear 408, an oversized one is a 413 whether it says its length or not, nothing is left
//! behind either way, and ten concurrent 30 MB uploads leave the broker's memory flat.

use super::*;
use addon_broker_tests::memory_kib;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `POST /apps/{app}/builds` by hand: the head (with `length` as `Content-Length`, or
/// chunked without), then `parts` of the body `pause` apart, then waits for the answer. The
/// answer may come before the body is whole; the broker then closes the connection.
async fn raw_upload(
    app: &TestApp,
    token: &str,
    name: &str,
    length: Option<usize>,
    parts: Vec<Vec<u8>>,
    pause: Duration,
) -> (u16, Value) {
    let addr = app.url.trim_start_matches("http://").to_string();
    let s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = s.into_split();
    let framing = match length {
        Some(n) => format!("content-length: {n}\r\n"),
        None => "transfer-encoding: chunked\r\n".to_string(),
    };
    let head = format!(
        "POST /apps/{name}/builds HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/gzip\r\n{framing}\r\n"
    );
    let chunked = length.is_none();
    // The body goes out beside the wait for the answer, which may come before it is whole.
    let sending = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await.unwrap();
        for p in parts {
            let data = if chunked {
                [format!("{:x}\r\n", p.len()).into_bytes(), p, b"\r\n".to_vec()].concat()
            } else {
                p
            };
            // The broker may have answered and closed already: that is what the test looks at.
            if writer.write_all(&data).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
        if chunked {
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
        // Kept open (stalled) until the test is done with the answer.
        std::future::pending::<()>().await;
    });
    let text = read_answer(&mut reader).await;
    sending.abort();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// One HTTP/1.1 answer (head and `Content-Length` body), whether or not the connection stays
/// open after it.
async fn read_answer(s: &mut tokio::net::tcp::OwnedReadHalf) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                return text;
            }
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return text,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// Nothing of an upload is left: no file in the spool, no build directory, no build row.
async fn nothing_left(app: &TestApp, api: &addon_broker_tests::Api, name: &str) {
    for dir in ["uploads", "builds"] {
        let path = app.dir().join(dir);
        let left: Vec<_> = std::fs::read_dir(&path)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in {}: {left:?}", path.display());
    }
    assert_eq!(
        api.get(&format!("/apps/{name}/builds")).await.expect(200).body,
        json!([])
    );
}

fn gzip_noise(len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    v[0] = 0x1f;
    v[1] = 0x8b;
    v
}

#[tokio::test]
async fn a_stalled_upload_is_cut_off_with_408_and_leaves_nothing() {
    let app = TestApp::spawn_with(Options {
        upload_idle_timeout_ms: 1_000,
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    let token = api.token.clone().unwrap();
    // 64 KiB of a declared 1 MiB, then silence.
    let (status, body) = raw_upload(
        &app,
        &token,
        &name,
        Some(1 << 20),
        vec![gzip_noise(64 << 10)],
        Duration::from_secs(3_600),
    )
    .await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["id"], "request_timeout");
    assert!(
        body["message"].as_str().unwrap().contains("stalled: no data for 1 s"),
        "{body}"
    );
    nothing_left(&app, &api, &name).await;
}

#[tokio::test]
async fn a_slow_upload_is_cut_off_at_the_total_timeout() {
    let app = TestApp::spawn_with(Options {
        upload_timeout_ms: 2_000,
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    let token = api.token.clone().unwrap();
    // 1 KiB every 100 ms: never idle, far from done when the 2 s are up.
    let parts = (0..1_000).map(|_| gzip_noise(1 << 10)).collect();
    let (status, body) = raw_upload(&app, &token, &name, Some(1 << 20), parts, Duration::from_millis(100)).await;
    assert_eq!(status, 408, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("took longer than 2 s"),
        "{body}"
    );
    nothing_left(&app, &api, &name).await;
}

#[tokio::test]
async fn an_oversized_upload_is_413_with_or_without_a_length_and_leaves_nothing() {
    let app = TestApp::spawn_with(Options {
        max_archive_bytes: 1 << 20,
        ..Options::default()
    })
    .await;
    let api = app.platform();
    let name = api.create_app().await;
    let token = api.token.clone().unwrap();
    let (status, body) = raw_upload(&app, &token, &name, Some(2 << 20), vec![], Duration::ZERO).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["id"], "payload_too_large");
    // Just over the limit, in small steps: the answer is read before the broker closes the
    // connection on what it did not read.
    let parts = (0..20).map(|_| gzip_noise(64 << 10)).collect();
    let (status, body) = raw_upload(&app, &token, &name, None, parts, Duration::from_millis(5)).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("over 1048576 bytes"),
        "{body}"
    );
    nothing_left(&app, &api, &name).await;
}

#[tokio::test]
async fn ten_concurrent_30_mb_uploads_leave_the_broker_memory_flat() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = api.create_app().await;
    let pid = app.pid().unwrap();
    let (before, _) = memory_kib(pid);
    let archive = gzip_noise(30 << 20);
    let uploads = (0..10).map(|_| post_build(&api, &name, archive.clone()));
    for r in futures::future::join_all(uploads).await {
        // Noise after a gzip magic: received whole, then refused as no archive.
        assert_eq!(r.status, 400, "{}", r.body);
    }
    let (_, peak) = memory_kib(pid);
    eprintln!("broker memory: {before} KiB resident before ten 30 MB uploads, {peak} KiB at the peak");
    // Held in memory, the bodies alone would be 300 MB.
    assert!(
        peak.saturating_sub(before) < 100 << 10,
        "the broker grew from {before} KiB to a peak of {peak} KiB"
    );
    nothing_left(&app, &api, &name).await;
}
