//! Where apps are reached: [`AppHosts`] (the router's domain, and its address once it is
//! bound: an app's default hostname and `web_url`), and the rules a custom domain's hostname
//! must follow ([`parse_hostname`]).

use uuid::Uuid;

use crate::catalog::clip;
use crate::config::WebAddress;
use crate::error::{Error, Result};

/// The longest DNS name (RFC 1035, without the trailing dot).
const MAX_HOSTNAME: usize = 253;
/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// The router's domain (`router.domain`) and, when this broker runs a router, its address.
/// Apps' default hostnames are `{app}.{domain}`; without a router apps have no `web_url` and
/// no default hostname, but names under the domain stay reserved for them.
#[derive(Debug, Clone)]
pub struct AppHosts {
    domain: String,
    web: Option<WebAddress>,
}

impl AppHosts {
    /// Hosts under `domain` (the settings' `router.domain`), served at `web` when the router
    /// is bound.
    pub fn new(domain: &str, web: Option<WebAddress>) -> AppHosts {
        AppHosts {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            web,
        }
    }

    /// `http://{app}.{domain}[:port]/`, when the router is bound.
    pub fn web_url(&self, app: &str) -> Option<String> {
        self.web.as_ref().map(|w| w.web_url(app))
    }

    /// `{app}.{domain}` (no port): what a custom domain's DNS points at.
    pub fn target_of(&self, app: &str) -> String {
        format!("{app}.{}", self.domain)
    }

    /// The app's default hostname, when the router is bound and so serves it.
    pub fn default_hostname(&self, app: &str) -> Option<String> {
        self.web.as_ref().map(|_| self.target_of(app))
    }

    /// True for the router's domain and every name under it: those are apps' default names.
    fn reserves(&self, hostname: &str) -> bool {
        hostname == self.domain || hostname.ends_with(&format!(".{}", self.domain))
    }

    /// The hostname a person typed, normalised ([`parse_hostname`]) and not one the router
    /// keeps for apps' default names; a 422 saying what is wrong otherwise.
    pub(super) fn custom_hostname(&self, raw: &str) -> Result<String> {
        let hostname = parse_hostname(raw)?;
        if self.reserves(&hostname) {
            return Err(Error::Unprocessable(format!(
                "{hostname} is under the router's domain {}, whose names are the apps' default hostnames",
                self.domain
            )));
        }
        Ok(hostname)
    }
}

/// The stable id of an app's default domain, which is not a row: a UUID v5 of the app id.
pub(super) fn default_domain_id(app_id: &str) -> String {
    let name = format!("urn:addon-broker:default-domain:{app_id}");
    Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

/// A hostname as it is stored: lowercase, one trailing dot (a fully qualified name) dropped.
/// The rest must be a DNS name of 2+ labels, each 1–63 of `[a-z0-9-]` not starting or ending
/// with `-`, at most 253 long, its last label not all digits (no IP addresses); no wildcard,
/// port, scheme or path. Anything else is a 422 saying which rule it breaks.
pub(super) fn parse_hostname(raw: &str) -> Result<String> {
    let invalid = |why: &str| Error::Unprocessable(format!("hostname {} is invalid: {why}", clip(raw)));
    if raw.is_empty() {
        return Err(Error::Unprocessable("hostname must not be empty".into()));
    }
    // The likely mistakes first, each with its own message.
    if raw.contains("://") {
        return Err(invalid("give the hostname alone, without a scheme (www.example.com)"));
    }
    if raw.contains('/') {
        return Err(invalid("give the hostname alone, without a path"));
    }
    if raw.contains(':') {
        return Err(invalid("give the hostname alone, without a port"));
    }
    if raw.contains('*') {
        return Err(invalid("wildcard domains are not supported"));
    }
    let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    if name.len() > MAX_HOSTNAME {
        return Err(Error::Unprocessable(format!(
            "hostname is {} characters long; at most {MAX_HOSTNAME} are allowed",
            name.len()
        )));
    }
    if let Some(c) = name.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '.')) {
        return Err(invalid(&format!(
            "{c:?} is not allowed: use letters, digits, '-' and '.' (an international name in its xn-- form)"
        )));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid("it needs at least two labels (www.example.com)"));
    }
    for label in &labels {
        check_label(label).map_err(|why| invalid(&why))?;
    }
    if labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid("IP addresses are not supported: give a DNS name"));
    }
    Ok(name)
}

/// One DNS label's rules (its characters are already known to be `[a-z0-9-]`).
fn check_label(label: &str) -> std::result::Result<(), String> {
    if label.is_empty() {
        return Err("it has an empty label".into());
    }
    if label.len() > MAX_LABEL {
        return Err(format!("the label {label} is longer than {MAX_LABEL} characters"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("the label {label} must not start or end with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(raw: &str) -> String {
        match parse_hostname(raw) {
            Err(Error::Unprocessable(m)) => m,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn hostnames_are_lowercased_and_lose_one_trailing_dot() {
        assert_eq!(parse_hostname("WWW.Example.COM").unwrap(), "www.example.com");
        assert_eq!(parse_hostname("www.example.com.").unwrap(), "www.example.com");
        assert_eq!(parse_hostname("a-1.b2.example.io").unwrap(), "a-1.b2.example.io");
        assert_eq!(
            parse_hostname("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(parse_hostname("1.2.3.example").unwrap(), "1.2.3.example");
        let longest = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(parse_hostname(&longest).unwrap().len(), 253);
    }

    #[test]
    fn each_rule_has_its_own_message() {
        assert_eq!(message(""), "hostname must not be empty");
        assert!(message("http://x.com").ends_with("without a scheme (www.example.com)"));
        assert!(message("../x").ends_with("without a path"));
        assert!(message("example.com:80").ends_with("without a port"));
        assert!(message("::1").ends_with("without a port"));
        assert!(message("*.example.com").ends_with("wildcard domains are not supported"));
        assert_eq!(
            message(&"a".repeat(300)),
            "hostname is 300 characters long; at most 253 are allowed"
        );
        assert!(message("a b.com").contains("' ' is not allowed"));
        assert!(message("'; drop table").contains("'\\'' is not allowed"));
        assert!(message("bücher.example").contains("'ü' is not allowed"));
        assert!(message("a_b.example").contains("'_' is not allowed"));
        assert!(message("localhost").ends_with("at least two labels (www.example.com)"));
        assert!(message("a..b").ends_with("it has an empty label"));
        assert!(message(".example.com").ends_with("it has an empty label"));
        assert!(message("example.com..").ends_with("it has an empty label"));
        assert!(message(&format!("{}.com", "a".repeat(64))).contains("is longer than 63 characters"));
        assert!(message("-a.example.com").ends_with("the label -a must not start or end with '-'"));
        assert!(message("a-.example.com").ends_with("the label a- must not start or end with '-'"));
        assert!(message("10.0.0.1").ends_with("IP addresses are not supported: give a DNS name"));
    }

    #[test]
    fn the_router_domain_and_names_under_it_are_reserved() {
        let hosts = AppHosts::new("Apps.Example.com.", None);
        for taken in ["apps.example.com", "x.apps.example.com", "A.B.apps.example.com"] {
            match hosts.custom_hostname(taken) {
                Err(Error::Unprocessable(m)) => {
                    assert!(m.contains("under the router's domain apps.example.com"), "{m}")
                }
                other => panic!("{taken}: {other:?}"),
            }
        }
        assert_eq!(
            hosts.custom_hostname("myapps.example.com").unwrap(),
            "myapps.example.com"
        );
        assert_eq!(hosts.target_of("web"), "web.apps.example.com");
        assert_eq!(hosts.default_hostname("web"), None);
        assert_eq!(hosts.web_url("web"), None);
    }

    #[test]
    fn a_bound_router_gives_apps_a_web_url_and_a_default_hostname_without_the_port() {
        let web = WebAddress {
            scheme: "http",
            domain: "localhost".into(),
            port: 5000,
        };
        let hosts = AppHosts::new("localhost", Some(web));
        assert_eq!(hosts.web_url("myapp").as_deref(), Some("http://myapp.localhost:5000/"));
        assert_eq!(hosts.default_hostname("myapp").as_deref(), Some("myapp.localhost"));
    }

    #[test]
    fn the_default_domain_id_is_stable_per_app() {
        assert_eq!(default_domain_id("a"), default_domain_id("a"));
        assert_ne!(default_domain_id("a"), default_domain_id("b"));
        assert!(Uuid::parse_str(&default_domain_id("a")).is_ok());
    }
}
