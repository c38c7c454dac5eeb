//! Router settings (`[router]`): where the router listens, the domain apps get names under,
//! its time limits and its TLS certificates; and [`WebAddress`], what an app's `web_url` is
//! made of once the router is bound.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the router runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterSettings {
    /// Plain HTTP address (`127.0.0.1:0`: a free loopback port); empty: no plain listener.
    pub listen: String,
    /// Apps are `{app}.{domain}` (`localhost` resolves to loopback in curl and browsers).
    pub domain: String,
    /// Longest wait for a dyno's response headers (Heroku's 30 s); then `H12` and 504.
    pub timeout_ms: u64,
    /// Longest wait for a leaving dyno's in-flight requests before it is sent SIGTERM.
    pub drain_timeout_ms: u64,
    /// Longest a request waits for a web dyno that is starting; then `H20` and 503.
    pub boot_wait_ms: u64,
    /// How long a host's app is remembered before the store is asked again.
    pub host_cache_ms: u64,
    /// Largest request head (request line and headers) accepted from a client.
    pub max_header_bytes: usize,
    /// Client connections open at once; more wait to be accepted (file descriptors are the
    /// broker's, its API and store connections included).
    pub max_connections: usize,
    /// HTTPS; off unless `tls.listen` is set.
    pub tls: TlsSettings,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            listen: "127.0.0.1:0".into(),
            domain: "localhost".into(),
            timeout_ms: 30_000,
            drain_timeout_ms: 30_000,
            boot_wait_ms: 10_000,
            host_cache_ms: 1_000,
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
            tls: TlsSettings::default(),
        }
    }
}

impl RouterSettings {
    /// `router.domain` lower-cased without leading or trailing dots; an error unless it is a
    /// host name (labels of letters, digits and `-`).
    pub fn apps_domain(&self) -> crate::error::Result<String> {
        let d = self.domain.trim_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if d.len() > 200 || !d.split('.').all(label_ok) {
            return Err(crate::error::Error::Internal(format!(
                "router.domain {:?} is not a host name",
                self.domain
            )));
        }
        Ok(d)
    }

    /// A setting in milliseconds as a duration, at most a day (larger values are taken as a
    /// day, so that no deadline overflows the clock).
    pub fn millis(ms: u64) -> std::time::Duration {
        std::time::Duration::from_millis(ms.min(86_400_000))
    }
}

/// The router's HTTPS listener and certificates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// HTTPS address; empty: no HTTPS listener.
    pub listen: String,
    /// PEM certificate chain served to names no `certificates` entry covers.
    pub cert_file: PathBuf,
    /// Its PEM private key.
    pub key_file: PathBuf,
    /// Certificates for particular names (SNI), e.g. a custom domain's own.
    pub certificates: Vec<DomainCertificate>,
}

/// A certificate served to the names it lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainCertificate {
    /// Host names (`www.example.com`) this certificate is served for.
    pub domains: Vec<String>,
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// Where the router can be reached: what an app's `web_url` is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAddress {
    /// `http` or `https` (https when the router has a TLS listener).
    pub scheme: &'static str,
    /// The apps' parent domain (`router.domain`).
    pub domain: String,
    /// The port, left out of URLs when it is the scheme's default.
    pub port: u16,
}

impl WebAddress {
    /// `http://{app}.{domain}:{port}/`, the port left out when it is the scheme's default.
    pub fn web_url(&self, app: &str) -> String {
        format!("{}://{}/", self.scheme, self.host_of(app))
    }

    /// `{app}.{domain}` with the port when it is not the scheme's default.
    pub fn host_of(&self, app: &str) -> String {
        let default = matches!((self.scheme, self.port), ("http", 80) | ("https", 443));
        if default {
            format!("{app}.{}", self.domain)
        } else {
            format!("{app}.{}:{}", self.domain, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_domain_is_normalised_or_refused() {
        let with = |d: &str| RouterSettings {
            domain: d.into(),
            ..RouterSettings::default()
        };
        assert_eq!(with("LocalHost.").apps_domain().unwrap(), "localhost");
        assert_eq!(with(".apps.example.com").apps_domain().unwrap(), "apps.example.com");
        for bad in ["", ".", "a..b", "bad domain", "-x.com", "x_y.com"] {
            assert!(with(bad).apps_domain().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn web_urls_leave_out_default_ports_only() {
        let at = |scheme, port| WebAddress {
            scheme,
            domain: "localhost".into(),
            port,
        };
        assert_eq!(at("http", 80).web_url("myapp"), "http://myapp.localhost/");
        assert_eq!(at("https", 443).web_url("myapp"), "https://myapp.localhost/");
        assert_eq!(at("http", 5000).web_url("myapp"), "http://myapp.localhost:5000/");
        assert_eq!(at("https", 80).web_url("myapp"), "https://myapp.localhost:80/");
    }
}
