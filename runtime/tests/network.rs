//! The local backend's network wall against the real kernel and pasta: a container reaches
//! the host ports of its policy and nothing else on the host, serves only its inbound port,
//! sees only its own sockets, and is `listening` only once its app is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use runtime::local::LocalRuntime;
use runtime::{ContainerSpec, Limits, NetworkPolicy, Runtime, State};

/// Connects to each `host:port` argument and prints `host:port ok` or `host:port refused`;
/// prints the ports of its namespace's listening sockets; then, once `/app/go` exists,
/// serves `hello` on the port in `$PORT` (and listens on `$EXTRA` too).
const PROBE: &str = r#"
import os, socket, sys, time
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print(target, "ok", flush=True)
    except OSError:
        print(target, "refused", flush=True)
ports = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).read().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A":
            ports.add(int(f[1].rsplit(":", 1)[1], 16))
print("listening", sorted(ports), flush=True)
while not os.path.exists("/app/go"):
    time.sleep(0.02)
extra = socket.socket()
extra.bind(("0.0.0.0", int(os.environ["EXTRA"])))
extra.listen()
web = socket.socket()
web.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
web.bind(("0.0.0.0", int(os.environ["PORT"])))
web.listen()
print("serving", flush=True)
while True:
    c, _ = web.accept()
    c.recv(1024)
    c.sendall(b"hello")
    c.close()
"#;

mod common;

fn runtime(root: &Path) -> LocalRuntime {
    common::runtime(root, "abr-runtime-tests")
}

use common::tempdir;

/// A host server on `addr` that answers `host` to every connection, until the test ends.
fn host_server(addr: (Ipv4Addr, u16)) -> u16 {
    let l = TcpListener::bind(addr).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.write_all(b"host");
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// This host's global IPv4 addresses (what a container with egress must not reach either).
fn host_addresses() -> Vec<Ipv4Addr> {
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3)?.split('/').next()?.parse().ok())
        .collect()
}

fn probe_spec(
    id: &str,
    app: &Path,
    targets: &[String],
    port: u16,
    extra: u16,
    network: NetworkPolicy,
) -> ContainerSpec {
    ContainerSpec {
        id: id.into(),
        labels: BTreeMap::new(),
        hostname: "web.1".into(),
        command: format!("python3 probe.py {}", targets.join(" ")),
        env: BTreeMap::from([
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("PORT".into(), port.to_string()),
            ("EXTRA".into(), extra.to_string()),
        ]),
        app_source: app.to_path_buf(),
        share_app: false,
        mounts: Vec::new(),
        limits: Limits {
            memory_bytes: 256 << 20,
            max_processes: 32,
        },
        io: Default::default(),
        network,
    }
}

/// The container's output once it holds `line`.
async fn wait_output(rt: &LocalRuntime, id: &str, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = String::from_utf8(rt.output(id, 0, 1 << 20).await.unwrap().bytes).unwrap();
        if out.contains(line) {
            return out;
        }
        let s = rt.status(id).await.unwrap();
        assert!(matches!(s.state, State::Running), "{id} ended: {s:?}\n{out}");
        assert!(Instant::now() < deadline, "{id} never printed {line:?}:\n{out}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_listening(rt: &LocalRuntime, id: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rt.listening(id, port).await {
        assert!(Instant::now() < deadline, "{id} never listened on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the host gets from `127.0.0.1:port`: the bytes answered, or `None` when refused.
fn fetch(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"hi");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    Some(out)
}

/// The platform's endpoint (a root broker's) is made inside the container's namespace: it is
/// served by the app, it reaches a port that is not inbound (which only a socket inside can),
/// and the thread that made it is back in the host's network afterwards.
async fn through_the_namespace(rt: &LocalRuntime, id: &str, port: u16, extra: u16, host_port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let endpoint = rt.endpoint(id, port).await;
    assert!(endpoint.in_own_namespace(), "a root runtime enters the namespace");
    let mut s = endpoint.connect().await.unwrap();
    s.write_all(b"hi").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "hello");
    let inside = rt.endpoint(id, extra).await;
    inside
        .connect()
        .await
        .expect("the socket is inside: the port that is not inbound accepts");
    assert_eq!(
        fetch(host_port).as_deref(),
        Some("host"),
        "this thread is back on the host's network"
    );
}

#[tokio::test]
async fn a_container_reaches_its_services_only_and_serves_its_inbound_port_only() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join("probe.py"), PROBE).unwrap();
    let rt = runtime(&dir.path().join("containers"));
    let allowed = host_server((Ipv4Addr::LOCALHOST, 0));
    let denied = host_server((Ipv4Addr::LOCALHOST, 0));
    let everywhere = host_server((Ipv4Addr::UNSPECIFIED, 0));

    // A neighbour serving on its own inbound port.
    let (n_port, n_extra) = (free_port(), free_port());
    let neighbour = NetworkPolicy {
        inbound: vec![n_port],
        ..Default::default()
    };
    rt.start(probe_spec("neighbour", &app, &[], n_port, n_extra, neighbour))
        .await
        .unwrap();
    wait_output(&rt, "neighbour", "listening").await;
    std::fs::write(dir.path().join("containers/neighbour/app/go"), "").unwrap();
    wait_listening(&rt, "neighbour", n_port).await;
    assert_eq!(
        fetch(n_port).as_deref(),
        Some("hello"),
        "the host reaches a dyno's inbound port"
    );

    let mut targets = vec![
        format!("127.0.0.1:{allowed}"),
        format!("127.0.0.1:{denied}"),
        format!("127.0.0.1:{everywhere}"),
        format!("127.0.0.1:{n_port}"),
    ];
    targets.extend(host_addresses().iter().map(|a| format!("{a}:{everywhere}")));
    for egress in [false, true] {
        let id = format!("probe-{egress}");
        let (port, extra) = (free_port(), free_port());
        let policy = NetworkPolicy {
            inbound: vec![port],
            services: vec![allowed],
            egress,
        };
        rt.start(probe_spec(&id, &app, &targets, port, extra, policy))
            .await
            .unwrap();
        let out = wait_output(&rt, &id, "listening").await;
        assert!(
            out.contains(&format!("127.0.0.1:{allowed} ok")),
            "egress {egress}: {out}"
        );
        for t in &targets[1..] {
            assert!(
                out.contains(&format!("{t} refused")),
                "egress {egress}: {t} reached:\n{out}"
            );
        }
        // Its own sockets only: pasta's forward of the service, nothing of the host's.
        let seen = out.lines().find(|l| l.starts_with("listening")).unwrap();
        assert_eq!(seen, format!("listening [{allowed}]"), "egress {egress}");

        // Before the app listens, the host side of its port is pasta's: it accepts, and
        // closes without an answer; the runtime does not call that listening.
        assert!(!rt.listening(&id, port).await);
        assert_eq!(
            fetch(port).as_deref(),
            Some(""),
            "pasta's side of the port, nothing behind it"
        );
        std::fs::write(dir.path().join(format!("containers/{id}/app/go")), "").unwrap();
        wait_output(&rt, &id, "serving").await;
        wait_listening(&rt, &id, port).await;
        assert_eq!(fetch(port).as_deref(), Some("hello"));
        // A port the container listens on that is not inbound is not reachable from the host.
        assert!(rt.listening(&id, extra).await, "it does listen inside");
        assert_eq!(fetch(extra), None, "the host cannot reach a port that is not inbound");
        through_the_namespace(&rt, &id, port, extra, allowed).await;
        rt.stop(&id, Duration::from_secs(1)).await.unwrap();
    }
    rt.stop("neighbour", Duration::from_secs(1)).await.unwrap();
    assert_eq!(fetch(n_port), None, "a stopped dyno's port closes with it");
}

/// Both pastas serve the same wall: Debian 12's (`/usr/bin`, the `passt` package) and the newer
/// one `scripts/install-deps` builds (`/usr/local/bin`), which needs an option the older does
/// not know to forward to the namespace's loopback.
#[tokio::test]
async fn debians_pasta_and_the_newer_one_serve_the_same_ports() {
    let dir = tempdir();
    let app = dir.path().join("slug");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join("probe.py"), PROBE).unwrap();
    let service = host_server((Ipv4Addr::LOCALHOST, 0));
    for (n, pasta) in ["/usr/bin/pasta", "/usr/local/bin/pasta"].iter().enumerate() {
        let rt = common::runtime_with_pasta(&dir.path().join(format!("c{n}")), "abr-runtime-tests", pasta);
        let id = format!("pasta-{n}");
        let (port, extra) = (free_port(), free_port());
        let policy = NetworkPolicy {
            inbound: vec![port],
            services: vec![service],
            egress: false,
        };
        let targets = [format!("127.0.0.1:{service}")];
        rt.start(probe_spec(&id, &app, &targets, port, extra, policy))
            .await
            .unwrap();
        let out = wait_output(&rt, &id, "listening").await;
        assert!(out.contains(&format!("127.0.0.1:{service} ok")), "{pasta}: {out}");
        std::fs::write(dir.path().join(format!("c{n}/{id}/app/go")), "").unwrap();
        wait_listening(&rt, &id, port).await;
        assert_eq!(fetch(port).as_deref(), Some("hello"), "{pasta}");
        rt.stop(&id, Duration::from_secs(1)).await.unwrap();
    }
}
