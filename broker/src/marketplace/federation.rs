//! Federation: registering another OSB broker, whose catalog this broker offers under a prefix.

use providers::osb_upstream::{Upstream, UpstreamConfig};
use providers::partner::check_url;
use serde_json::Value;

use super::registry::Registration;
use super::{list_errors, Marketplace};
use crate::catalog::clip;
use crate::error::{Error, Result};

impl Marketplace {
    /// An upstream broker's registration: its settings, checked, and its catalog as fetched now.
    pub(super) async fn upstream_registration(&self, body: &Value) -> Result<Registration> {
        let (cfg, id, name) = parse_upstream(body)?;
        self.check_loopback(&[("url", &cfg.url)])?;
        let upstream = Upstream::new(&id, cfg.clone(), self.inner.client.clone(), self.request_timeout());
        let catalog = upstream
            .fetch_catalog()
            .await
            .map_err(|e| Error::Unprocessable(clip(&format!("url: the upstream catalog could not be read: {e}"))))?;
        let spec = serde_json::to_vec(&cfg).map_err(|e| Error::internal("serializing the upstream settings", e))?;
        Ok(Registration {
            id,
            name,
            spec,
            catalog: Some(catalog.to_string()),
        })
    }
}

/// A provider slug: 1 to 30 characters of a-z 0-9 -, starting with a letter, not ending with -.
fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 30
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.ends_with('-')
}

/// Reads a federation registration: `id`, `name`, `url`, `username`, `password`,
/// `service_prefix` (defaults to `id`).
fn parse_upstream(body: &Value) -> Result<(UpstreamConfig, String, String)> {
    let mut errors = Vec::new();
    let known = ["kind", "id", "name", "url", "username", "password", "service_prefix"];
    if let Some(map) = body.as_object() {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                errors.push(format!("{key}: is not a field of an OSB broker registration"));
            }
        }
    }
    let text = |field: &str, errors: &mut Vec<String>| match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            errors.push(format!("{field}: is required and must be a non-empty string"));
            String::new()
        }
    };
    let id = text("id", &mut errors);
    if !id.is_empty() && !is_slug(&id) {
        errors.push(format!(
            "id: {id:?} must be 1 to 30 characters of a-z 0-9 -, starting with a letter"
        ));
    }
    let name = text("name", &mut errors);
    let url = text("url", &mut errors);
    if !url.is_empty() {
        check_url("url", &url, &mut errors);
    }
    let username = text("username", &mut errors);
    if username.contains(':') {
        errors.push("username: must not contain ':'".into());
    }
    let password = text("password", &mut errors);
    let prefix = match body.get("service_prefix") {
        None => id.clone(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            errors.push("service_prefix: must be a string".into());
            String::new()
        }
    };
    if !prefix.is_empty() && !is_slug(&prefix) {
        errors.push(format!(
            "service_prefix: {prefix:?} must be a-z 0-9 -, starting with a letter"
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Unprocessable(format!(
            "the registration is invalid: {}",
            list_errors(&errors)
        )));
    }
    Ok((
        UpstreamConfig {
            url,
            username,
            password,
            service_prefix: prefix,
        },
        id,
        name,
    ))
}
