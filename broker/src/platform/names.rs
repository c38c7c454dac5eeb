//! Names: the rules for app, config var, attachment and add-on names, and the names the
//! platform makes up (generated app and add-on names, default attachment names and aliases).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::catalog::clip;
use crate::error::{Error, Result};

/// Colors for the aliases of second and later add-ons of one service in one app.
const COLORS: [&str; 20] = [
    "AMBER", "BLUE", "BRONZE", "COBALT", "CRIMSON", "GOLD", "GRAY", "GREEN", "IVORY", "JADE", "LIME", "MAROON", "NAVY",
    "OLIVE", "ORANGE", "PINK", "PURPLE", "RED", "SILVER", "TEAL",
];

/// `len` random lowercase letters and digits (for generated names).
pub(super) fn lower_random(len: usize) -> String {
    providers::names::random_password(len * 2)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(len)
        .collect()
}

/// A name rule: what the name is, its pattern (for the message), and the checks behind it.
struct NameRule {
    what: &'static str,
    pattern: &'static str,
    len: std::ops::RangeInclusive<usize>,
    first: fn(u8) -> bool,
    rest: fn(u8) -> bool,
}

impl NameRule {
    fn check(&self, name: &str) -> Result<()> {
        let bytes = name.as_bytes();
        let ok = self.len.contains(&bytes.len())
            && bytes.first().is_some_and(|&b| (self.first)(b))
            && bytes.iter().all(|&b| (self.rest)(b));
        if !ok {
            return Err(Error::BadRequest(format!(
                "{} {} is invalid: use {}",
                self.what,
                clip(name),
                self.pattern
            )));
        }
        Ok(())
    }
}

fn lower_digit_dash(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

/// `^[a-z][a-z0-9-]{2,29}$`.
pub fn validate_app_name(name: &str) -> Result<()> {
    NameRule {
        what: "app name",
        pattern: "^[a-z][a-z0-9-]{2,29}$",
        len: 3..=30,
        first: |b| b.is_ascii_lowercase(),
        rest: lower_digit_dash,
    }
    .check(name)
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`, at most 200 characters.
pub fn validate_var_name(name: &str) -> Result<()> {
    NameRule {
        what: "config var name",
        pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
        len: 1..=200,
        first: |b| b.is_ascii_alphabetic() || b == b'_',
        rest: |b| b.is_ascii_alphanumeric() || b == b'_',
    }
    .check(name)
}

/// Attachment names: `^[A-Z][A-Z0-9_]{0,29}$`.
pub(super) fn validate_attachment_name(name: &str) -> Result<()> {
    NameRule {
        what: "attachment name",
        pattern: "^[A-Z][A-Z0-9_]{0,29}$",
        len: 1..=30,
        first: |b| b.is_ascii_uppercase(),
        rest: |b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_',
    }
    .check(name)
}

/// Add-on names: `^[a-z][a-z0-9-]{2,49}$`, not shaped like an id.
pub(super) fn validate_addon_name(name: &str) -> Result<()> {
    // Add-ons are addressed by id or name: a name shaped like an id could shadow another add-on.
    if uuid::Uuid::parse_str(name).is_ok() {
        return Err(Error::BadRequest(
            "an add-on name must not look like an add-on id".into(),
        ));
    }
    NameRule {
        what: "add-on name",
        pattern: "^[a-z][a-z0-9-]{2,49}$",
        len: 3..=50,
        first: |b| b.is_ascii_lowercase(),
        rest: lower_digit_dash,
    }
    .check(name)
}

/// The default attachment name of a service's first add-on in an app (Heroku's convention): a
/// partner's config var prefix, a federated database's `DATABASE`, else the service's name.
pub(super) fn default_attachment_name(service: &str, metadata: Option<&Value>) -> String {
    let named = metadata.and_then(|m| {
        m.get("configVarsPrefix")
            .or_else(|| m.get("defaultAttachmentName"))
            .and_then(Value::as_str)
    });
    match (named, service) {
        (Some(n), _) => n.to_string(),
        (None, "postgresql") => "DATABASE".to_string(),
        (None, other) => other.to_ascii_uppercase().replace('-', "_"),
    }
}

/// The attachment name of a new add-on in an app whose attachments use `taken`: the requested
/// one if free, else the service's default, else an alias of it (`POSTGRESQL_AMBER`, …).
pub(super) fn new_attachment_name(
    requested: Option<&str>,
    taken: &BTreeSet<String>,
    service: &str,
    metadata: Option<&Value>,
    app_name: &str,
) -> Result<String> {
    if let Some(n) = requested {
        if taken.contains(n) {
            return Err(Error::Conflict(format!(
                "attachment name {n} is already used in app {app_name}"
            )));
        }
        return Ok(n.to_string());
    }
    let first = default_attachment_name(service, metadata);
    if !taken.contains(&first) {
        return Ok(first);
    }
    // Aliases build on the service's name (`POSTGRESQL_AMBER`), or on a partner's config var
    // prefix (`ACME_AMBER`).
    let base = metadata
        .and_then(|m| m.get("configVarsPrefix"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| service.to_ascii_uppercase().replace('-', "_"));
    COLORS
        .iter()
        .map(|color| format!("{base}_{color}"))
        .chain((2..1000).map(|i| format!("{base}_{i}")))
        .find(|n| !taken.contains(n))
        .ok_or_else(|| Error::Conflict("no free attachment name".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_their_rules() {
        assert!(validate_app_name("my-app").is_ok());
        assert!(validate_app_name("My-app").is_err());
        assert!(validate_var_name("_FOO1").is_ok());
        assert!(validate_var_name("1FOO").is_err());
        assert!(validate_attachment_name("DATABASE_2").is_ok());
        assert!(validate_attachment_name("database").is_err());
        assert!(validate_addon_name("pg-main").is_ok());
        assert!(validate_addon_name("6f1c0b36-8a4e-4a36-9a53-2f1fb2b7a1c4").is_err());
    }

    #[test]
    fn second_add_ons_of_a_service_get_color_aliases() {
        let mut taken = BTreeSet::new();
        let first = new_attachment_name(None, &taken, "postgresql", None, "a").unwrap();
        assert_eq!(first, "DATABASE");
        taken.insert(first);
        assert_eq!(
            new_attachment_name(None, &taken, "postgresql", None, "a").unwrap(),
            "POSTGRESQL_AMBER"
        );
        let meta = json!({ "configVarsPrefix": "ACME" });
        taken.insert("ACME".into());
        assert_eq!(
            new_attachment_name(None, &taken, "acme-db", Some(&meta), "a").unwrap(),
            "ACME_AMBER"
        );
        assert!(new_attachment_name(Some("ACME"), &taken, "acme-db", Some(&meta), "a").is_err());
    }
}
