//! A container's network: the policy a backend enforces, and how the local backend does it.
//!
//! The local backend gives each container a network namespace of its own with `pasta`
//! (Debian's `passt`), which wraps bubblewrap. Nothing is configured in that namespace but
//! loopback and exactly the ports of the policy:
//!
//! - `-t 127.0.0.1/PORT` for each inbound port: the host's `127.0.0.1:PORT` (where the router
//!   connects) is forwarded to the container's `PORT`;
//! - `-T PORT` for each service port: the container's `127.0.0.1:PORT` is forwarded to the
//!   host's, so an add-on's URL works unchanged inside;
//! - no UDP either way (`-u none -U none`);
//! - with egress, `--config-net --no-map-gw`: a routed interface to the outside, with the
//!   gateway's address *not* mapped to the host's loopback (pasta's default would open every
//!   host port). The namespace gets the host's own address, so connecting to it stays inside.
//!
//! Everything else on the host (the broker's API, the backing servers of other add-ons, other
//! dynos) is out of reach, and `/proc/net/tcp` lists the container's own sockets only. A
//! Docker backend maps the policy to a network of its own per container with published
//! ports; a Kubernetes backend to a NetworkPolicy (ingress from the router, egress to the
//! services' addresses).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Result, RuntimeError};

/// Memory a container's pasta takes (measured: about 30 MiB resident, mostly its connection
/// tables), added to the container's memory limit.
pub const PASTA_MEMORY: u64 = 32 << 20;

/// What a container may reach, and what reaches it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    /// Ports the container listens on that the platform reaches at the host's `127.0.0.1`
    /// (a web dyno's `$PORT`, for the router).
    #[serde(default)]
    pub inbound: Vec<u16>,
    /// Ports of the host's loopback the container reaches at its own `127.0.0.1` (the servers
    /// of its app's add-ons, a build's package registries).
    #[serde(default)]
    pub services: Vec<u16>,
    /// Whether it may open connections beyond this host (never to the host itself).
    #[serde(default)]
    pub egress: bool,
}

/// How the local backend networks its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalNetwork {
    /// A namespace of its own per container, by the `pasta` binary at this path.
    Isolated {
        /// The `pasta` binary.
        pasta: PathBuf,
        /// Whether [`Runtime::endpoint`](crate::Runtime::endpoint) gives the container's own
        /// namespace when this process may enter it (else pasta's forward, always).
        enter_namespaces: bool,
    },
    /// The host's network, shared by every container: no wall at all. For hosts that cannot
    /// run pasta; the broker warns when it starts so.
    Host,
}

/// pasta's options for `policy`, up to (not including) the `--` before the command; `extra`
/// are those [`probe`] found this pasta needs.
pub(crate) fn pasta_args(policy: &NetworkPolicy, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["--quiet", "--foreground"].map(String::from).into();
    args.extend_from_slice(extra);
    let ports = |list: &[u16]| list.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    args.push("--tcp-ports".into());
    args.push(if policy.inbound.is_empty() {
        "none".into()
    } else {
        format!("127.0.0.1/{}", ports(&policy.inbound))
    });
    args.push("--tcp-ns".into());
    args.push(if policy.services.is_empty() {
        "none".into()
    } else {
        ports(&policy.services)
    });
    args.extend(["--udp-ports", "none", "--udp-ns", "none"].map(String::from));
    if policy.egress {
        args.extend(["--config-net", "--no-map-gw"].map(String::from));
    }
    args
}

/// How long the probe may take: a pasta that cannot set up hangs rather than fails at times.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The option that keeps inbound forwards on the namespace's loopback: pasta of 2024 on
/// forwards the host's loopback to the namespace's external address (which a namespace
/// without egress does not have, and which an app listening on `127.0.0.1` would not serve);
/// older ones do so by default and do not know the option.
const HOST_LO_TO_NS_LO: &str = "--host-lo-to-ns-lo";

/// Checks that pasta runs here as the dyno user (it needs `/dev/net/tun` and unprivileged user
/// namespaces, and refuses root), and returns the version-dependent options it takes. A
/// namespace is made and a command run in it, as for a container. `privileges` is the
/// `setpriv` prefix, empty when the broker is not root.
pub(crate) fn probe(pasta: &Path, privileges: &[String]) -> Result<Vec<String>> {
    let newer = vec![HOST_LO_TO_NS_LO.to_string()];
    match run_once(pasta, privileges, &newer) {
        Ok(()) => Ok(newer),
        Err(_) => run_once(pasta, privileges, &[]).map(|()| Vec::new()),
    }
}

/// Runs `/bin/true` in a namespace of pasta's with `extra` options.
fn run_once(pasta: &Path, privileges: &[String], extra: &[String]) -> Result<()> {
    if privileges.is_empty() && nix::unistd::geteuid().is_root() {
        return Err(RuntimeError::Host(
            "pasta does not run as root: containers need a dyno user to run as".into(),
        ));
    }
    let mut line: Vec<String> = privileges.to_vec();
    line.push(pasta.display().to_string());
    line.extend(pasta_args(&NetworkPolicy::default(), extra));
    line.extend(["--".into(), "/bin/true".into()]);
    let cannot = |e: std::io::Error| {
        RuntimeError::Host(format!(
            "pasta ({}) cannot run: {e}; install the passt package, or set runtime.network = \"host\"",
            pasta.display()
        ))
    };
    let mut child = std::process::Command::new(&line[0])
        .args(&line[1..])
        .env_clear()
        .env("PATH", crate::host::HOST_PATH)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(cannot)?;
    let deadline = std::time::Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(cannot)? {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    if status.is_some_and(|s| s.success()) {
        return Ok(());
    }
    let mut said = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut said);
    }
    let said: Vec<&str> = said
        .lines()
        .filter(|l| !l.starts_with("Failed to send") && !l.trim().is_empty())
        .collect();
    let said = if status.is_none() {
        "it did not finish in 10 s".to_string()
    } else {
        said.join("; ")
    };
    let hint = if said.contains("tun") {
        " (/dev/net/tun must be readable and writable by the dyno user: mode 0666, as distributions ship it)"
    } else {
        ""
    };
    Err(RuntimeError::Host(format!(
        "pasta cannot make a network namespace: {said}{hint}; or set runtime.network = \"host\""
    )))
}

/// Whether a socket of the network namespace of process `pid` listens on TCP `port` (any
/// address), read from its `/proc/<pid>/net/tcp` and `tcp6`. Connecting would not tell: pasta
/// accepts on the host side before the container listens.
pub(crate) fn listens_in(pid: i32, port: u16) -> bool {
    ["tcp", "tcp6"].iter().any(|table| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).is_ok_and(|text| table_listens(&text, port))
    })
}

/// Whether a `/proc/net/tcp`-format table has a socket in state LISTEN (`0A`) on `port`.
fn table_listens(text: &str, port: u16) -> bool {
    text.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let (Some(local), Some(_remote), Some(state)) = (fields.next(), fields.next(), fields.next()) else {
            return false;
        };
        state == "0A"
            && local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                .is_some_and(|p| p == port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_name_exactly_the_policys_ports() {
        let closed = pasta_args(&NetworkPolicy::default(), &[]);
        let joined = closed.join(" ");
        assert!(
            joined.contains("--tcp-ports none --tcp-ns none --udp-ports none --udp-ns none"),
            "{joined}"
        );
        assert!(!joined.contains("--config-net"), "{joined}");
        let web = pasta_args(
            &NetworkPolicy {
                inbound: vec![40001],
                services: vec![5432, 6379],
                egress: true,
            },
            &[HOST_LO_TO_NS_LO.to_string()],
        )
        .join(" ");
        assert!(web.contains("--tcp-ports 127.0.0.1/40001 --tcp-ns 5432,6379"), "{web}");
        assert!(web.contains("--config-net --no-map-gw"), "{web}");
        assert!(web.contains("--foreground --host-lo-to-ns-lo"), "{web}");
    }

    #[test]
    fn listening_sockets_are_found_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n\
            0: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534\n\
            1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000 65534\n";
        assert!(table_listens(table, 18080));
        assert!(!table_listens(table, 8080), "established, not listening");
        assert!(!table_listens(table, 1));
        let six = "  sl  local_address remote_address st\n\
            0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A\n";
        assert!(table_listens(six, 8080));
    }
}
