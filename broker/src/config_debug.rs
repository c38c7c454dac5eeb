//! The settings' `Debug` output, with every secret hidden (passwords, keys, the passwords in
//! database and provider URLs), so that settings can be logged at any level. Beside `config`,
//! not inside it, so that `config` stays the plain shape of the settings.

use std::fmt;

use crate::config::{
    AuthSettings, CryptoSettings, DatabaseSettings, OsbSettings, PostgresProviderSettings, RedisProviderSettings,
};

/// Shows a URL with its password replaced, so that settings can be logged.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:<redacted>@{host}")
        }
        _ => url.to_string(),
    }
}

/// Shows whether a secret is set, never its value.
fn redact(secret: &str) -> &'static str {
    if secret.is_empty() {
        ""
    } else {
        "<redacted>"
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

impl fmt::Debug for OsbSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsbSettings")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("sync_timeout_ms", &self.sync_timeout_ms)
            .field("retry_after_secs", &self.retry_after_secs)
            .finish()
    }
}

impl fmt::Debug for CryptoSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoSettings")
            .field("key", &redact(&self.key))
            .field("key_file", &self.key_file)
            .finish()
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &redact(&self.jwt_secret))
            .finish()
    }
}

impl fmt::Debug for RedisProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisProviderSettings")
            .field("url", &redact_url(&self.url))
            .field("public_host", &self.public_host)
            .field("public_port", &self.public_port)
            .finish()
    }
}

impl fmt::Debug for PostgresProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresProviderSettings")
            .field("url", &redact_url(&self.url))
            .field("public_host", &self.public_host)
            .field("public_port", &self.public_port)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}
