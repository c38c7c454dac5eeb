//! Third-party providers over HTTP: the manifest they register (Heroku's `addon-manifest.json`
//! shape) and the adapter that calls them with Heroku's partner API v3 semantics.
//!
//! Calls: `POST {base_url}` (provision), `PUT {base_url}/{uuid}` (plan change), `DELETE
//! {base_url}/{uuid}` (deprovision), each with basic auth `id:password` and an
//! `X-Addon-Signature` (see [`crate::signing`]) keyed by the manifest's password. A 200 answer is
//! synchronous and carries `config`; a 202 means the provider finishes later and reports back
//! through the broker's callbacks before a deadline.
//!
//! - `manifest`: the validated manifest, its catalog service and its config-var rules;
//! - `validate`: reading a submitted manifest and naming every problem ([`Manifest::parse`]);
//! - `urls`: the URLs a registration may name;
//! - `adapter`: the HTTP adapter ([`PartnerProvider`]).

mod adapter;
mod manifest;
mod urls;
mod validate;

pub use adapter::{read_capped, PartnerProvider, PartnerSettings, MAX_ANSWER_BYTES};
pub use manifest::{
    config_to_credentials, valid_var, Manifest, ManifestApi, ManifestEndpoints, ManifestPlan, REQUIRES,
};
pub use urls::{check_url, is_loopback};

/// A manifest every rule accepts, for the tests of this module.
#[cfg(test)]
fn sample() -> serde_json::Value {
    serde_json::json!({
        "id": "acme-cache",
        "name": "Acme Cache",
        "api": {
            "config_vars_prefix": "ACME",
            "config_vars": ["ACME_URL", "ACME_TOKEN"],
            "password": "0123456789abcdef0123",
            "sso_salt": "salt-salt-salt-salt",
            "regions": ["us", "eu"],
            "requires": ["attachable"],
            "production": { "base_url": "https://acme.example/heroku/resources", "sso_url": "https://acme.example/sso" },
            "version": "3"
        },
        "plans": [{ "id": "basic", "name": "Basic", "description": "Small" }]
    })
}
