//! Custom domains route to their app, over plain HTTP and HTTPS; the router serves each name
//! its own certificate (SNI) and tells the app the request came over HTTPS.

use std::path::{Path, PathBuf};

use addon_broker_tests::router::HTTP_PROCFILE;

use super::*;

/// A self-signed certificate for `names`, written as PEM files into `dir`; its DER too.
fn certificate(dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf, Vec<u8>) {
    let made = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let (cert, key) = (dir.join(format!("{stem}.pem")), dir.join(format!("{stem}.key")));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key, made.cert.der().to_vec())
}

/// An HTTPS client that trusts `certs` and reaches `names` at the router's HTTPS port.
fn https_client(certs: &[&Path], names: &[&str], port: u16) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_info(true)
        .timeout(Duration::from_secs(30));
    for c in certs {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(c).unwrap()).unwrap());
    }
    for n in names {
        b = b.resolve(n, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    b.build().unwrap()
}

fn peer_certificate(r: &reqwest::Response) -> Vec<u8> {
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn custom_domains_and_tls_route_to_their_app() {
    let certs = tempfile::tempdir().unwrap();
    let name = format!("tls-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let own = format!("{name}.localhost");
    let custom = format!("{}.example.test", &name);
    let (default_cert, default_key, default_der) = certificate(certs.path(), "default", &[&own]);
    let (custom_cert, custom_key, custom_der) = certificate(certs.path(), "custom", &[&custom]);
    let app = TestApp::spawn_with(Options {
        router_tls: Some(addon_broker_tests::app::RouterTls {
            default: (default_cert.clone(), default_key),
            certificates: vec![(vec![custom.clone()], custom_cert.clone(), custom_key)],
        }),
        ..Options::default()
    })
    .await;
    let api = app.platform();
    api.post("/apps", serde_json::json!({ "name": name })).await.expect(201);
    let binary = std::fs::read(addon_broker_tests::dynos::sample_binary()).unwrap();
    let slug = addon_broker_tests::dynos::archive(&[
        ("Procfile", HTTP_PROCFILE.as_bytes(), 0o644),
        ("sample-dyno", &binary, 0o755),
    ]);
    addon_broker_tests::dynos::push(&api, &name, slug).await;
    addon_broker_tests::dynos::wait_dynos(&api, &name, "web up", |l| {
        addon_broker_tests::dynos::up(l, "web").len() == 1
    })
    .await;
    let router = Router::new(&app.router_url);

    // Before it is added, the custom name is nobody's.
    assert_eq!(router.get(&custom, "/").await.0, 404);
    api.post(
        &format!("/apps/{name}/domains"),
        serde_json::json!({ "hostname": custom }),
    )
    .await
    .expect(201);
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let (status, body) = router.get(&custom, "/").await;
        if status == 200 {
            break serde_json::from_str::<Value>(&body).unwrap();
        }
        assert_eq!(status, 404, "{body}");
        assert!(Instant::now() < deadline, "the custom domain never routed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(seen["dyno"], "web.1");

    // HTTPS: each name gets its own certificate, and the app learns the scheme.
    let tls_port: u16 = app
        .router_tls_url
        .as_ref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let client = https_client(&[&default_cert, &custom_cert], &[&own, &custom], tls_port);
    for (host, der) in [(&own, &default_der), (&custom, &custom_der)] {
        let r = client.get(format!("https://{host}:{tls_port}/")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{host}");
        assert_eq!(&peer_certificate(&r), der, "{host} got another name's certificate");
        let seen: Value = r.json().await.unwrap();
        assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
        assert_eq!(seen["headers"]["x-forwarded-port"], tls_port.to_string());
    }
    let line = wait_line(&api, &name, "over https", |l| l.contains("protocol=https")).await;
    assert!(
        line.contains(&format!("host={custom}")) || line.contains(&format!("host={own}")),
        "{line}"
    );
    // apps:info's web URL is the HTTPS one.
    let info = api.get(&format!("/apps/{name}")).await.expect(200);
    assert_eq!(info.body["web_url"], format!("https://{own}:{tls_port}/"));

    // Removed, the name stops routing.
    api.delete(&format!("/apps/{name}/domains/{custom}")).await.expect(200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while router.get(&custom, "/").await.0 != 404 {
        assert!(Instant::now() < deadline, "the removed domain still routes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
