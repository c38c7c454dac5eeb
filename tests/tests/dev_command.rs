//! `broker dev`: the newcomer's one command starts PostgreSQL and the broker, writes the env
//! file, serves a working catalog, and on SIGTERM stops everything it started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use addon_broker_tests::partner::ReferenceProvider;
use addon_broker_tests::{broker_bin, connect_with_uri, Osb};
use broker::devservers::free_port;
use serde_json::json;

/// A running `broker dev`: the process, the backing servers' ports it printed, and the lines
/// it printed before writing its env file.
pub(crate) struct DevSession {
    pub(crate) child: std::process::Child,
    /// Kept open: the broker prints to it until it stops (a closed pipe would fail it).
    _stdout: BufReader<std::process::ChildStdout>,
    pub(crate) ports: std::collections::HashMap<&'static str, u16>,
    pub(crate) printed: Vec<String>,
    /// The session's home (and so the client login it writes), unless the caller gave one.
    pub(crate) home: Option<tempfile::TempDir>,
}

/// Starts `broker dev` with these arguments and extra environment variables in a home of its
/// own (so that the login it writes never touches a real one), and reads its output until it
/// has written its env file (`--env-file` must be among the arguments).
pub(crate) fn spawn_dev(args: &[&std::ffi::OsStr], vars: &[(&str, &str)]) -> DevSession {
    let home = tempfile::Builder::new().prefix("dev-home-").tempdir().unwrap();
    let mut session = spawn_dev_in(home.path(), args, vars);
    session.home = Some(home);
    session
}

/// [`spawn_dev`] with `home` as HOME (and `home/.config` as XDG_CONFIG_HOME).
pub(crate) fn spawn_dev_in(home: &std::path::Path, args: &[&std::ffi::OsStr], vars: &[(&str, &str)]) -> DevSession {
    let mut child = Command::new(broker_bin())
        .arg("dev")
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ports = std::collections::HashMap::new();
    let mut printed = Vec::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        for server in ["postgresql", "redis", "kafka (tansu)"] {
            if let Some(rest) = line.trim().strip_prefix(&format!("{server}: 127.0.0.1:")) {
                let port: u16 = rest.split_whitespace().next().unwrap().parse().unwrap();
                ports.insert(server, port);
            }
        }
        printed.push(line.trim().to_string());
        if line.contains("wrote ") {
            break;
        }
        line.clear();
    }
    DevSession {
        child,
        _stdout: stdout,
        ports,
        printed,
        home: None,
    }
}

/// Stops a dev session with SIGTERM and waits for it to exit cleanly.
pub(crate) fn stop_dev(session: &mut DevSession) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(session.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = session.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn broker_dev_serves_postgresql_writes_the_env_file_and_stops_everything_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("broker.env");
    let port = free_port().unwrap();
    let port_text = port.to_string();
    let mut session = spawn_dev(
        &[
            "--port".as_ref(),
            port_text.as_ref(),
            "--env-file".as_ref(),
            env_file.as_os_str(),
        ],
        &[],
    );
    let ports = session.ports.clone();
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
    let (_, creds) = osb.bound(&plan, "dev").await;
    let client = connect_with_uri(creds["uri"].as_str().unwrap()).await.unwrap();
    client.batch_execute("CREATE TABLE hello (x int)").await.unwrap();
    drop(client);

    stop_dev(&mut session);
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

#[tokio::test]
async fn broker_dev_takes_its_config_and_environment_mints_tokens_per_person_and_allows_a_loopback_partner() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("broker.env");
    let config = dir.path().join("dev.toml");
    let secret = "a-dev-secret-of-at-least-thirty-two-bytes-0123";
    std::fs::write(
        &config,
        format!(
            "[osb]\nusername = \"sandbox\"\npassword = \"from-the-file-0123\"\n[auth]\njwt_secret = \"{secret}\"\n"
        ),
    )
    .unwrap();
    let port = free_port().unwrap().to_string();
    let mut session = spawn_dev(
        &[
            "--port".as_ref(),
            port.as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--users".as_ref(),
            "alice,bob".as_ref(),
            "--no-login".as_ref(),
            "--env-file".as_ref(),
            env_file.as_os_str(),
        ],
        &[("BROKER__OSB__PASSWORD", "from-the-environment-0123")],
    );
    // --no-login leaves the client's login alone.
    let home = session.home.as_ref().unwrap().path();
    assert!(!home.join(".config/broker/credentials.json").exists());
    assert!(
        !session.printed.iter().any(|l| l.starts_with("login:")),
        "{:?}",
        session.printed
    );
    let text = std::fs::read_to_string(&env_file).unwrap();
    let env: std::collections::HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(env["BROKER_URL"], url);

    // The file named the OSB user and the environment's password won over the file's.
    assert_eq!(env["BROKER_OSB_USER"], "sandbox");
    assert_eq!(env["BROKER_OSB_PASSWORD"], "from-the-environment-0123");
    let mut osb = Osb {
        url: url.clone(),
        user: "sandbox".into(),
        password: "from-the-environment-0123".into(),
        version: Some("2.17".into()),
        client: addon_broker_tests::api::http_client(),
    };
    assert!(osb.get("/v2/catalog").await.status.is_success());
    osb.password = "from-the-file-0123".into();
    osb.get("/v2/catalog").await.expect(401);

    // A platform token per person, signed with the file's key, each working on the API.
    let keys = broker::auth::TokenKeys::from_secret(secret.as_bytes()).unwrap();
    let api_for = |token: &str| addon_broker_tests::Api {
        url: url.clone(),
        token: Some(token.to_string()),
        client: addon_broker_tests::api::http_client(),
    };
    for (var, sub) in [("BROKER_TOKEN_ALICE", "alice"), ("BROKER_TOKEN_BOB", "bob")] {
        let claims = keys.verify(env[var]).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.scope),
            (sub, broker::auth::Scope::Platform)
        );
        assert!(
            session.printed.iter().any(|l| l.starts_with(&format!("{var}="))),
            "{var} printed"
        );
    }
    let alice = api_for(env["BROKER_TOKEN_ALICE"]);
    let app = alice.create_app().await;
    api_for(env["BROKER_TOKEN_BOB"]).get("/apps").await.expect(200);
    // More tokens for the session, as the README says.
    let hint = session.printed.iter().find(|l| l.starts_with("more tokens: ")).unwrap();
    assert!(hint.contains("broker token"), "{hint}");
    let data_dir = session
        .printed
        .iter()
        .find_map(|l| l.trim().strip_prefix("data dir: "))
        .expect("dev prints its data dir")
        .to_string();
    let out = Command::new(broker_bin())
        .args(["token", "--scope", "platform", "--sub", "carol", "--config"])
        .arg(&config)
        .env("BROKER__DATA_DIR", &data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let carol = api_for(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(carol.get("/account").await.expect(200).body["id"], "carol");
    // Carol sees nothing of alice's until alice shares her app.
    carol.get(&format!("/apps/{app}")).await.expect(404);
    alice
        .post(&format!("/apps/{app}/collaborators"), json!({ "user": "carol" }))
        .await
        .expect(201);
    carol.get(&format!("/apps/{app}")).await.expect(200);
    // The session's admin token hands out tokens too.
    let admin = api_for(env["BROKER_ADMIN_TOKEN"]);
    let dave = admin
        .post("/admin/tokens", json!({ "user": "dave" }))
        .await
        .expect(201)
        .body;
    let dave = api_for(dave["token"].as_str().unwrap());
    assert_eq!(dave.get("/account").await.expect(200).body["id"], "dave");

    // A partner on this machine (loopback URLs) is accepted, and its first plan is the default.
    let partner_id = format!("laptop-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let partner = ReferenceProvider::start(&partner_id, "LAPTOP");
    admin.post("/admin/providers", partner.manifest(&[])).await.expect(201);
    admin
        .post(&format!("/admin/providers/{}/actions/approve", partner.id), json!({}))
        .await
        .expect(200);
    let r = alice
        .post(&format!("/apps/{app}/addons"), json!({ "plan": partner.id }))
        .await
        .expect(201);
    assert_eq!(r.body["plan"], format!("{}:basic", partner.id));
    assert!(alice.config(&app).await.contains_key("LAPTOP_URL"));
    stop_dev(&mut session);
}

#[test]
fn broker_token_mints_tokens_with_the_configured_key_and_refuses_bad_flags() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Recorded {
        #[diesel(sql_type = diesel::sql_types::Text)]
        person: String,
    }
    let secret = "a-secret-of-at-least-thirty-two-bytes-0123";
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(broker_bin())
        .args(["token", "--scope", "admin", "--ttl", "2h", "--sub", "ops"])
        .env("BROKER__AUTH__JWT_SECRET", secret)
        .env("BROKER__DATA_DIR", data.path())
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
    // The token was recorded, under its id, in the configured (here the default SQLite) store.
    let mut store = SqliteConnection::establish(data.path().join("broker.sqlite").to_str().unwrap()).unwrap();
    let rows: Vec<Recorded> = diesel::sql_query("SELECT person FROM tokens WHERE id = ?")
        .bind::<diesel::sql_types::Text, _>(&claims.jti)
        .load(&mut store)
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.person.as_str()).collect::<Vec<_>>(), ["ops"]);
    for args in [
        ["--scope", "root", "--ttl", "1h"],
        ["--scope", "platform", "--ttl", "soon"],
    ] {
        let out = Command::new(broker_bin())
            .arg("token")
            .args(args)
            .env("BROKER__AUTH__JWT_SECRET", secret)
            .env("BROKER__DATA_DIR", data.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--"),
            "the error names the flag"
        );
    }
}
