//! An app's buildpacks (Heroku's buildpack installations): the ordered list its builds run,
//! set whole. An empty list means detection among the built-in buildpacks.

use serde_json::json;

use crate::access::{app_for, Role};
use crate::buildpacks::{check_reference, BUILTINS};
use crate::db::models::BuildpackInstallation;
use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::platform::Actor;
use crate::provisioning::audit;

use super::manager::Dynos;
use super::views::{BuildpackInstallationView, BuildpackRef};

/// Most buildpacks one app may run.
const MAX_BUILDPACKS: usize = 16;

impl Dynos {
    /// An app's buildpacks in order.
    pub async fn buildpack_installations(&self, app: String, actor: &Actor) -> Result<Vec<BuildpackInstallationView>> {
        let actor = actor.clone();
        let rows = self
            .inner
            .db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                BuildpackInstallation::of_app(c, &a.id)
            })
            .await?;
        Ok(rows.into_iter().map(view).collect())
    }

    /// Replaces an app's buildpacks with `urls`, in order (422 naming the first bad one; an
    /// empty list returns the app to the built-ins' detection).
    pub async fn set_buildpack_installations(
        &self,
        app: String,
        urls: Vec<String>,
        actor: &Actor,
    ) -> Result<Vec<BuildpackInstallationView>> {
        if urls.len() > MAX_BUILDPACKS {
            return Err(Error::Unprocessable(format!(
                "an app runs at most {MAX_BUILDPACKS} buildpacks"
            )));
        }
        let urls: Vec<String> = urls.iter().map(|u| u.trim().to_string()).collect();
        for u in &urls {
            check_reference(u, &self.inner.builds)?;
        }
        let (actor, meta) = (actor.clone(), actor.meta());
        let rows = self
            .inner
            .db
            .write(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                BuildpackInstallation::replace(c, &a.id, &urls, now_ms())?;
                audit(
                    c,
                    &meta,
                    "platform.buildpacks.update",
                    format!("app/{}", a.id),
                    json!({ "buildpacks": urls }),
                )?;
                BuildpackInstallation::of_app(c, &a.id)
            })
            .await?;
        Ok(rows.into_iter().map(view).collect())
    }
}

fn view(b: BuildpackInstallation) -> BuildpackInstallationView {
    let name = BUILTINS
        .iter()
        .find(|x| x.name == b.url)
        .map_or_else(|| b.url.clone(), |x| x.name.to_string());
    BuildpackInstallationView {
        ordinal: b.ordinal,
        buildpack: BuildpackRef { url: b.url, name },
    }
}
