//! `broker dev`: the newcomer's one command starts PostgreSQL and the broker, writes the env
//! file, serves a working catalog, and on SIGTERM stops everything it started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use addon_broker_tests::{broker_bin, connect_with_uri, unique, Osb};
use broker::devservers::free_port;
use serde_json::json;

#[tokio::test]
async fn broker_dev_serves_postgresql_writes_the_env_file_and_stops_everything_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("broker.env");
    let port = free_port().unwrap();
    let mut child = Command::new(broker_bin())
        .args(["dev", "--port", &port.to_string(), "--env-file"])
        .arg(&env_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ports = std::collections::HashMap::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        for server in ["postgresql", "redis", "kafka (tansu)"] {
            if let Some(rest) = line.trim().strip_prefix(&format!("{server}: 127.0.0.1:")) {
                let port: u16 = rest.split_whitespace().next().unwrap().parse().unwrap();
                ports.insert(server, port);
            }
        }
        if line.contains("wrote ") {
            break;
        }
        line.clear();
    }
    assert_eq!(
        ports.len(),
        3,
        "dev printed the address of each backing server: {ports:?}"
    );

    let text = std::fs::read_to_string(&env_file).unwrap();
    let env: std::collections::HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(env["BROKER_URL"], format!("http://127.0.0.1:{port}"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let osb = Osb {
        url: env["BROKER_URL"].to_string(),
        user: env["BROKER_OSB_USER"].to_string(),
        password: env["BROKER_OSB_PASSWORD"].to_string(),
        version: Some("2.17".into()),
        client: addon_broker_tests::api::http_client(),
    };
    let catalog = osb.catalog().await;
    let names: Vec<&str> = catalog["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["postgresql", "redis", "kafka"]);
    // The platform token of the env file works on the platform API; the admin token on the
    // admin endpoint.
    let api = addon_broker_tests::Api {
        url: env["BROKER_URL"].to_string(),
        token: Some(env["BROKER_PLATFORM_TOKEN"].to_string()),
        client: addon_broker_tests::api::http_client(),
    };
    let app = api.create_app().await;
    api.post(&format!("/apps/{app}/addons"), json!({ "plan": "redis:shared" }))
        .await
        .expect(201);
    assert!(api.config(&app).await.contains_key("REDIS_URL"));
    // dev runs dynos too: the sample app's web dyno serves, with the add-on's URL.
    use addon_broker_tests::dynos::{ask, push, sample_app, up, wait_dynos, PROCFILE};
    push(&api, &app, sample_app(PROCFILE)).await;
    let dynos = wait_dynos(&api, &app, "web.1 up", |l| up(l, "web").len() == 1).await;
    let web_port = dynos[0]["port"].as_u64().unwrap();
    let me = ask(web_port, "/").await.expect("the web dyno answers");
    assert!(me["env"]["REDIS_URL"].is_string(), "{me}");
    api.get("/admin/audit").await.expect(403);
    let admin = addon_broker_tests::Api {
        token: Some(env["BROKER_ADMIN_TOKEN"].to_string()),
        ..api.clone()
    };
    admin.get("/admin/audit").await.expect(200);
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("dev");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let creds = osb
        .bind(&id, &unique("b"), &plan, json!({}), false)
        .await
        .expect(201)
        .body["credentials"]
        .clone();
    let client = connect_with_uri(creds["uri"].as_str().unwrap()).await.unwrap();
    client.batch_execute("CREATE TABLE hello (x int)").await.unwrap();
    drop(client);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (server, port) in &ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "{server} stopped"
        );
    }
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "broker stopped"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", web_port as u16)).is_err(),
        "the dyno stopped with dev"
    );
}

#[test]
fn broker_token_mints_tokens_with_the_configured_key_and_refuses_bad_flags() {
    let secret = "a-secret-of-at-least-thirty-two-bytes-0123";
    let out = Command::new(broker_bin())
        .args(["token", "--scope", "admin", "--ttl", "2h", "--sub", "ops"])
        .env("BROKER__AUTH__JWT_SECRET", secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = broker::auth::TokenKeys::from_secret(secret.as_bytes())
        .unwrap()
        .verify(token.trim())
        .unwrap();
    assert_eq!(claims.sub, "ops");
    assert_eq!(claims.scope, broker::auth::Scope::Admin);
    assert_eq!(claims.exp - claims.iat, 7200);
    for args in [
        ["--scope", "root", "--ttl", "1h"],
        ["--scope", "platform", "--ttl", "soon"],
    ] {
        let out = Command::new(broker_bin())
            .arg("token")
            .args(args)
            .env("BROKER__AUTH__JWT_SECRET", secret)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--"),
            "the error names the flag"
        );
    }
}
