//! What a dyno's network holds: the router reaches its `$PORT`; it reaches the servers of the
//! add-ons attached to its app, found in those bindings' credentials (never in config vars,
//! which the app's users can set to any port of the host); egress as `runtime.egress` says.
//! A build reaches the loopback ports of the package registries it is given.

use runtime::NetworkPolicy;
use serde_json::Value;

use crate::db::models::{Attachment, AttachmentState, Binding};
use crate::error::Result;

use super::manager::Dynos;

/// Host names that mean this host's loopback in a URL.
const LOOPBACK: [&str; 4] = ["127.0.0.1", "localhost", "[::1]", "::1"];

impl Dynos {
    /// The network of a dyno of `app_id`, serving on `port` if it is a web dyno.
    pub(super) async fn dyno_network(&self, app_id: &str, port: Option<u16>) -> Result<NetworkPolicy> {
        let (sealer, app_id) = (self.inner.sealer.clone(), app_id.to_string());
        let services = self
            .inner
            .db
            .run(move |c| {
                let mut ports = Vec::new();
                for att in Attachment::of_app(c, &app_id)? {
                    if !att.is(AttachmentState::Attached) {
                        continue;
                    }
                    let Some(sealed) = Binding::find_any(c, &att.id)?.and_then(|b| b.credentials) else {
                        continue;
                    };
                    let plain = sealer.open(&sealed, &format!("binding/{}", att.id))?;
                    if let Ok(v) = serde_json::from_slice::<Value>(&plain) {
                        ports.extend(ports_in(&v));
                    }
                }
                Ok(ports)
            })
            .await?;
        Ok(NetworkPolicy {
            inbound: port.into_iter().collect(),
            services: sorted(services),
            egress: self.inner.settings.egress,
        })
    }

    /// The network of a build: the registries' loopback ports, egress as `builds.egress` says.
    pub(super) fn build_network(&self) -> NetworkPolicy {
        let b = &self.inner.builds;
        let ports = [&b.pip_index_url, &b.npm_registry]
            .iter()
            .flat_map(|url| loopback_ports(url))
            .collect();
        NetworkPolicy {
            inbound: Vec::new(),
            services: sorted(ports),
            egress: b.egress,
        }
    }
}

fn sorted(mut ports: Vec<u16>) -> Vec<u16> {
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The loopback ports named anywhere in credentials: in URLs and lists of them (`host:port`
/// after a loopback name), and in objects with a loopback `host` and a `port`.
fn ports_in(v: &Value) -> Vec<u16> {
    match v {
        Value::String(s) => loopback_ports(s),
        Value::Array(items) => items.iter().flat_map(ports_in).collect(),
        Value::Object(map) => {
            let mut out: Vec<u16> = map.values().flat_map(ports_in).collect();
            let host = map.get("host").or_else(|| map.get("hostname")).and_then(Value::as_str);
            let port = map.get("port").and_then(|p| {
                p.as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            });
            if let (Some(h), Some(p)) = (host, port) {
                if LOOPBACK.contains(&h) {
                    out.push(p);
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The ports following a loopback host name in `text` (`…@127.0.0.1:5432/…`,
/// `localhost:9092,localhost:9093`).
fn loopback_ports(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for name in ["127.0.0.1:", "localhost:", "[::1]:"] {
        for (at, _) in text.match_indices(name) {
            // A longer name that ends in this one (`my127.0.0.1:`, `notlocalhost:`) is not it.
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                continue;
            }
            let digits: String = text[at + name.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(p) = digits.parse::<u16>() {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_found_in_urls_lists_and_host_port_pairs() {
        let creds = serde_json::json!({
            "values": {
                "uri": "postgres://u:p%40x@127.0.0.1:5432/db?sslmode=disable",
                "nodes": ["redis://localhost:6379", "redis://[::1]:6380"],
                "server": { "host": "localhost", "port": 9092 },
                "other": { "host": "db.example.com", "port": 5433 },
                "text": "kafka://localhost:29092,kafka://localhost:29093",
            },
            "env": { "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db" }
        });
        let mut ports = ports_in(&creds);
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports, vec![5432, 6379, 6380, 9092, 29092, 29093]);
    }

    #[test]
    fn names_that_only_end_like_loopback_and_bad_ports_are_not_endpoints() {
        assert!(loopback_ports("http://evil127.0.0.1:80/ http://notlocalhost:81/").is_empty());
        assert!(loopback_ports("http://localhost:99999/ http://localhost:/").is_empty());
        assert_eq!(loopback_ports("http://x.localhost:82/"), Vec::<u16>::new());
    }
}
