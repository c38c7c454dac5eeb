//! The network wall around real dynos: a dyno reaches the servers of its app's add-ons and
//! nothing else on the host — not the broker, not the router, not the backing servers of
//! add-ons it does not have, not another app's dyno — whatever its config vars say.

use super::*;

/// Connects to each `host:port` argument and prints `host:port ok` or `host:port refused`,
/// then the ports its namespace listens on.
const PROBE: &str = r#"python3 -c "
import socket, sys
for t in sys.argv[1:]:
    h, p = t.rsplit(':', 1)
    try:
        socket.create_connection((h, int(p)), timeout=3).close()
        print(t, 'ok')
    except OSError:
        print(t, 'refused')
ports = set()
for table in ('/proc/net/tcp', '/proc/net/tcp6'):
    for line in open(table).read().splitlines()[1:]:
        f = line.split()
        if f[3] == '0A':
            ports.add(int(f[1].rsplit(':', 1)[1], 16))
print('listening', sorted(ports))
""#;

fn port_of(url: &str) -> u16 {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port.split(['/', '?']).next().unwrap();
    host_port.rsplit_once(':').unwrap().1.parse().unwrap()
}

#[tokio::test]
async fn a_dyno_reaches_its_addons_and_nothing_else_on_the_host() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let (name, other) = (api.create_app().await, api.create_app().await);
    push(&api, &other, sample_app(PROCFILE)).await;
    let list = wait_dynos(&api, &other, "web up", |l| up(l, "web").len() == 1).await;
    let neighbour = list[0]["port"].as_u64().unwrap();
    assert!(
        ask(neighbour, "/hello").await.is_some(),
        "the host reaches a dyno's web port"
    );

    push(&api, &name, sample_app(PROCFILE)).await;
    let r = api
        .post(&format!("/apps/{name}/addons"), json!({"plan": "postgresql:shared"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let database = port_of(api.config(&name).await["DATABASE_URL"].as_str().unwrap());
    let servers = addon_broker_tests::servers();
    let (broker, router) = (port_of(&app.url), port_of(&app.router_url));
    // Config vars are the app's users' to set: naming a port does not open it.
    let r = api
        .patch(
            &format!("/apps/{name}/config-vars"),
            json!({"BROKER_URL": format!("http://127.0.0.1:{broker}/"), "REDIS_URL": servers.redis.url()}),
        )
        .await;
    assert_eq!(r.status, 200);

    let reach = [
        (database, true),
        (broker, false),
        (router, false),
        (servers.redis.port(), false),
        (servers.kafka.port(), false),
        (neighbour as u16, false),
    ];
    let targets: Vec<String> = reach.iter().map(|(p, _)| format!("127.0.0.1:{p}")).collect();
    let r = api
        .post(
            &format!("/apps/{name}/dynos"),
            json!({"command": format!("{PROBE} {}", targets.join(" ")), "attach": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let out = r.body["output"].as_str().unwrap();
    for ((port, open), target) in reach.iter().zip(&targets) {
        let want = if *open { "ok" } else { "refused" };
        assert!(
            out.contains(&format!("{target} {want}")),
            "127.0.0.1:{port} should be {want}:\n{out}"
        );
    }
    // Its namespace holds its own sockets only: the forward of its add-on's server.
    assert!(out.contains(&format!("listening [{database}]")), "{out}");

    // An app without add-ons reaches nothing at all.
    let r = api
        .post(
            &format!("/apps/{other}/dynos"),
            json!({"command": format!("{PROBE} 127.0.0.1:{database}"), "attach": true}),
        )
        .await;
    let out = r.body["output"].as_str().unwrap();
    assert!(out.contains(&format!("127.0.0.1:{database} refused")), "{out}");
    assert!(out.contains("listening []"), "{out}");
}
