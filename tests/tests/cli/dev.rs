//! `broker dev` writes the client's login (as `vault server -dev` writes `~/.vault-token`):
//! with only that home, `broker apps:create` and `broker apps` in another terminal reach it.

use addon_broker_tests::CliUser;
use broker::devservers::free_port;

use crate::dev_command::{spawn_dev_in, stop_dev};

#[tokio::test]
async fn broker_dev_stores_a_private_login_that_client_commands_use() {
    // A person with no login and no BROKER_URL / BROKER_TOKEN: only the home dev writes into.
    let person = CliUser::logged_out();
    let env_file = person.home().join("broker.env");
    let port = free_port().unwrap().to_string();
    let mut session = spawn_dev_in(
        person.home(),
        &[
            "--port".as_ref(),
            port.as_ref(),
            "--env-file".as_ref(),
            env_file.as_os_str(),
        ],
        &[],
    );
    let path = person.home().join(".config/broker/credentials.json");
    let said = session
        .printed
        .iter()
        .find_map(|l| l.strip_prefix("login: "))
        .unwrap_or_else(|| panic!("dev says where the login went: {:?}", session.printed))
        .to_string();
    assert!(said.starts_with(&path.display().to_string()), "{said}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let login: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(login["url"], format!("http://127.0.0.1:{port}"));
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        env.lines()
            .any(|l| l == format!("BROKER_PLATFORM_TOKEN={}", login["token"].as_str().unwrap())),
        "the login holds the session's platform token"
    );

    assert_eq!(person.run(&["auth:whoami"]).await.ok().trim(), "dev-platform");
    let name = "from-another-terminal";
    person.run(&["apps:create", name]).await.ok();
    let apps = person.run(&["apps"]).await;
    assert!(apps.ok().lines().any(|l| l.starts_with(name)), "{}", apps.stdout);
    person.run(&["config:set", "HELLO=world"]).await.ok();
    assert_eq!(person.run(&["config:get", "HELLO"]).await.ok(), "world\n");
    stop_dev(&mut session);
}
