//! What passes through the router as a stream: a WebSocket, a chunked response, and a 50 MB
//! upload that reaches the dyno while the client is still sending it, without the broker
//! holding it in memory.

use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::*;
use addon_broker_tests::memory_kib;

#[tokio::test]
async fn websockets_chunked_responses_and_a_50_mb_upload_pass_through() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let name = http_app(&api, 1).await;
    let router = Router::new(&app.router_url);
    let host = format!("{name}.localhost");

    // A WebSocket echo through the router.
    let mut request = format!("ws://{host}:{}/ws", router.port())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("host", format!("{host}:{}", router.port()).parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", router.port()))
        .await
        .unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
    assert_eq!(response.status(), 101);
    for text in ["hello", "through the router"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap().into_data().as_ref(),
        &[0u8, 1, 2, 255]
    );
    ws.close(None).await.unwrap();
    wait_line(&api, &name, "for the upgrade", |l| {
        l.contains("path=\"/ws\"") && l.contains("status=101")
    })
    .await;

    // A chunked response, line by line.
    let r = router
        .request(reqwest::Method::GET, &host, "/stream/5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        (0..5).map(|i| format!("chunk {i}")).collect::<Vec<_>>()
    );

    // 50 MB up: the first mebibyte must reach the dyno before the client sends the rest.
    let pid = app.pid().unwrap();
    // Writing 5 to clear_refs resets the peak (VmHWM) to what is resident now.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let (rss_before, _) = memory_kib(pid);
    let (tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let upload = router
        .request(reqwest::Method::POST, &host, "/upload")
        .header("content-length", (50u64 << 20).to_string())
        .body(reqwest::Body::wrap_stream(rx))
        .send();
    let (api_ref, name_ref) = (&api, &name);
    let sender = async move {
        let mut tx = tx;
        tx.send(Ok(vec![b'a'; 1 << 20])).await.unwrap();
        wait_started(api_ref, name_ref).await;
        for _ in 1..50 {
            tx.send(Ok(vec![b'b'; 1 << 20])).await.unwrap();
        }
    };
    let (response, ()) = tokio::join!(upload, sender);
    let response = response.unwrap();
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["bytes"], 50u64 << 20);
    let (_, peak) = memory_kib(pid);
    assert!(
        peak < rss_before + 25 * 1024,
        "the broker's memory peaked at {peak} KiB from {rss_before} KiB: the upload was held"
    );

    // A client that breaks off its upload: H27, logged with nginx's 499.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", router.port()))
        .await
        .unwrap();
    let head = format!(
        "POST /upload?broken HTTP/1.1\r\nHost: {host}:{}\r\nContent-Length: {}\r\n\r\n",
        router.port(),
        10u64 << 20
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&vec![b'c'; 1 << 20]).await.unwrap();
    drop(tcp);
    let line = wait_line(&api, &name, "H27", |l| l.contains("code=H27")).await;
    assert!(
        line.contains("desc=\"Client Request Interrupted\" method=POST path=\"/upload?broken\""),
        "{line}"
    );
    assert!(line.contains("status=499"), "{line}");
}

/// Waits for the dyno to say that an upload's first bytes arrived.
async fn wait_started(api: &addon_broker_tests::Api, app: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !addon_broker_tests::dynos::logs(api, app, "source=app")
        .await
        .contains("upload started")
    {
        assert!(Instant::now() < deadline, "the dyno never saw the upload's first bytes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
