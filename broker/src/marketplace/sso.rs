//! Single sign-on into a partner's dashboard, Heroku's way: a form POSTed to the manifest's
//! `sso_url` with a token only the partner (who knows the salt) can check.

use std::collections::BTreeMap;

use providers::signing::unix_now;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{find_provider, Marketplace, Spec};
use crate::db::models::Instance;
use crate::error::{Error, Result};
use crate::ids::{AddonRef, AppRef};
use crate::platform::{iso, Actor};
use crate::provisioning::audit;

/// A single sign-on into a partner's dashboard (Heroku's form: POST `params` to `action`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SsoView {
    /// Always `POST`; [`SsoView::url`] is the same login as a GET.
    pub method: String,
    /// The partner's `sso_url`.
    pub action: String,
    /// `id`, `token` (`sha1(id:salt:timestamp)`), `timestamp`, `nav-data`, `email`, `app`,
    /// `context_app`.
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, String>,
    /// `action` with `params` as its query string.
    pub url: String,
    /// When the provider stops accepting it (5 minutes).
    pub expires_at: String,
}

impl Marketplace {
    /// A single sign-on into an add-on's partner dashboard, for anyone who may use the app that
    /// owns it (not only one it is attached to).
    pub async fn sso(&self, app: AppRef, addon: AddonRef, actor: &Actor) -> Result<SsoView> {
        let (addon_row, app_row) = self.inner.platform.addon_of_app(app, addon, actor).await?;
        self.inner.platform.check_owning_app(&addon_row, actor).await?;
        let id = addon_row.id.clone();
        let inst = self
            .inner
            .db
            .run(move |c| Instance::find(c, &id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("add-on {} has no instance", addon_row.name)))?;
        let owner = self
            .inner
            .catalog
            .current()
            .owner(&inst.service_id)
            .map(str::to_string)
            .ok_or_else(|| Error::Unprocessable(format!("add-on {} has no provider", addon_row.name)))?;
        let row = self
            .inner
            .db
            .run(move |c| find_provider(c, &owner))
            .await
            .map_err(|_| {
                Error::Unprocessable(format!(
                    "add-on {} is a built-in service; it has no single sign-on",
                    addon_row.name
                ))
            })?;
        let Spec::Partner(manifest) = self.open_spec(&row)? else {
            return Err(Error::Unprocessable(format!(
                "add-on {} comes from a federated broker; it has no single sign-on",
                addon_row.name
            )));
        };
        let timestamp = unix_now();
        let token = sso_token(&addon_row.id, &manifest.api.sso_salt, timestamp);
        let mut params = BTreeMap::new();
        params.insert("id".to_string(), addon_row.id.clone());
        params.insert("token".to_string(), token);
        params.insert("timestamp".to_string(), timestamp.to_string());
        params.insert("nav-data".to_string(), String::new());
        params.insert("email".to_string(), actor.sub.clone());
        params.insert("app".to_string(), app_row.name.clone());
        params.insert("context_app".to_string(), app_row.name.clone());
        let mut url =
            reqwest::Url::parse(&manifest.api.production.sso_url).map_err(|e| Error::internal("stored sso_url", e))?;
        url.query_pairs_mut().extend_pairs(params.iter());
        let meta = actor.meta();
        let target = format!("addon/{}", addon_row.id);
        self.inner
            .db
            .write(move |c| audit(c, &meta, "platform.addon.sso", target.clone(), json!({})))
            .await?;
        Ok(SsoView {
            method: "POST".into(),
            action: manifest.api.production.sso_url.clone(),
            params,
            url: url.to_string(),
            expires_at: iso((timestamp + providers::signing::REPLAY_WINDOW_SECS) * 1000),
        })
    }
}

/// Heroku's SSO token: hex `sha1("<id>:<salt>:<timestamp>")`.
pub fn sso_token(id: &str, salt: &str, timestamp: i64) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(format!("{id}:{salt}:{timestamp}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sso_token_is_sha1_of_id_salt_and_timestamp() {
        // sha1("abc:salt:1") computed independently with `printf 'abc:salt:1' | sha1sum`.
        assert_eq!(sso_token("abc", "salt", 1), "c70bac735a7f86a4306baaf2f26eef66877f3539");
    }
}
