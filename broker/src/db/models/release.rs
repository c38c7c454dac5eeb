//! Releases: numbered, sealed snapshots of an app's config vars and code, and their queries.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::json;

use super::addon::Addon;
use super::attachment::{Attachment, AttachmentState};
use super::slug::Slug;
use crate::db::schema::releases;
use crate::db::{now_ms, DbConnection};
use crate::error::{Error, Result};
use crate::ids::{AppId, ReleaseId};

/// A release: a numbered, sealed snapshot of an app's config vars.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::releases)]
pub struct Release {
    /// UUID.
    pub id: String,
    /// The app.
    pub app_id: String,
    /// 1, 2, 3 … per app.
    pub version: i32,
    /// What changed ("Set FOO config vars").
    pub description: String,
    /// Sealed JSON object of the config vars.
    pub config: Vec<u8>,
    /// JSON list of the attached add-ons' `service:plan`.
    pub addon_plan_names: String,
    /// `pending` (its release phase has not finished), `succeeded` or `failed` (its release
    /// phase failed: the dynos never ran it).
    pub status: String,
    /// Token subject that caused it.
    pub created_by: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// The slug (code) it runs; `None` before the first build.
    pub slug_id: Option<String>,
}

/// Seals and opens release configs under a context (the broker's `crypto::Sealer` implements
/// it, in the platform domain): a trait, because `crypto` itself reads the models.
pub trait ConfigSealer {
    /// Seals `plain` so that it opens only under `context`.
    fn seal_config(&self, plain: &[u8], context: &str) -> Result<Vec<u8>>;
    /// Opens what [`ConfigSealer::seal_config`] sealed under `context`.
    fn open_config(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>>;
}

/// A release that runs (or needs no release phase, or passed it).
pub const SUCCEEDED: &str = "succeeded";
/// A release whose release phase has not finished yet.
pub const PENDING: &str = "pending";
/// A release whose release phase failed: the dynos never move onto it.
pub const FAILED: &str = "failed";

/// The sealing context of a release's config: a sealed config opens only as the release it
/// was written for.
fn seal_context(app_id: &str, version: i32) -> String {
    format!("release/{app_id}/{version}")
}

impl Release {
    /// An app's latest release, if it has one.
    pub fn latest(conn: &mut DbConnection, app_id: &str) -> Result<Option<Release>> {
        Ok(releases::table
            .filter(releases::app_id.eq(app_id))
            .order(releases::version.desc())
            .select(Release::as_select())
            .first(conn)
            .optional()?)
    }

    /// An app's current release: the latest that succeeded (the one its dynos run).
    pub fn current(conn: &mut DbConnection, app_id: &str) -> Result<Option<Release>> {
        Ok(releases::table
            .filter(releases::app_id.eq(app_id))
            .filter(releases::status.eq(SUCCEEDED))
            .order(releases::version.desc())
            .select(Release::as_select())
            .first(conn)
            .optional()?)
    }

    /// Whether any release of the app has code (a build made one).
    pub fn any_with_code(conn: &mut DbConnection, app_id: &str) -> Result<bool> {
        let n: i64 = releases::table
            .filter(releases::app_id.eq(app_id))
            .filter(releases::slug_id.is_not_null())
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    /// Every release waiting for its release phase, oldest first per app.
    pub fn pending(conn: &mut DbConnection) -> Result<Vec<Release>> {
        Ok(releases::table
            .filter(releases::status.eq(PENDING))
            .order((releases::app_id.asc(), releases::version.asc()))
            .select(Release::as_select())
            .load(conn)?)
    }

    /// Whether the release is still `pending` (read after a phase is claimed: a list read
    /// before another phase of the app finished may name a release that is done).
    pub fn is_pending(conn: &mut DbConnection, id: &str) -> Result<bool> {
        let n: i64 = releases::table
            .filter(releases::id.eq(id))
            .filter(releases::status.eq(PENDING))
            .count()
            .get_result(conn)?;
        Ok(n == 1)
    }

    /// Sets the status of a release that is still `pending`; false when it was not (another
    /// broker finished it, or the app is gone).
    pub fn finish_pending(conn: &mut DbConnection, id: &str, status: &str) -> Result<bool> {
        let n = diesel::update(releases::table)
            .filter(releases::id.eq(id))
            .filter(releases::status.eq(PENDING))
            .set(releases::status.eq(status))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// An app's release ids by version.
    pub fn ids_by_version(conn: &mut DbConnection, app_id: &str) -> Result<Vec<(i32, String)>> {
        Ok(releases::table
            .filter(releases::app_id.eq(app_id))
            .select((releases::version, releases::id))
            .load(conn)?)
    }

    /// An app's releases, oldest first.
    pub fn of_app(conn: &mut DbConnection, app_id: &str) -> Result<Vec<Release>> {
        Ok(releases::table
            .filter(releases::app_id.eq(app_id))
            .order(releases::version.asc())
            .select(Release::as_select())
            .load(conn)?)
    }

    /// A release of an app by version (`3`, `v3`) or id, if it exists.
    pub fn find_in_app(conn: &mut DbConnection, app_id: &AppId, id_or_version: &str) -> Result<Option<Release>> {
        let query = releases::table
            .filter(releases::app_id.eq(app_id.as_str()))
            .select(Release::as_select());
        Ok(match id_or_version.trim_start_matches('v').parse::<i32>() {
            Ok(v) => query.filter(releases::version.eq(v)).first(conn).optional()?,
            Err(_) => query.filter(releases::id.eq(id_or_version)).first(conn).optional()?,
        })
    }

    /// Inserts a new release row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(releases::table).values(self).execute(conn)?;
        Ok(())
    }

    /// The release's config vars, unsealed.
    pub fn open_config(&self, sealer: &impl ConfigSealer) -> Result<BTreeMap<String, String>> {
        let plain = sealer.open_config(&self.config, &seal_context(&self.app_id, self.version))?;
        serde_json::from_slice(&plain).map_err(|e| Error::internal("release config", e))
    }

    /// An app's current version and config vars (its latest release's; none before the first).
    pub fn current_config(
        conn: &mut DbConnection,
        sealer: &impl ConfigSealer,
        app_id: &str,
    ) -> Result<(i32, BTreeMap<String, String>)> {
        match Release::latest(conn, app_id)? {
            Some(r) => Ok((r.version, r.open_config(sealer)?)),
            None => Ok((0, BTreeMap::new())),
        }
    }

    /// Writes the next release of an app with `config` and `slug_id`, listing the add-ons
    /// attached now; the caller's transaction makes it atomic. It is `pending` when its code
    /// has a `release` process type (the dyno manager runs the release phase, then marks it),
    /// else `succeeded`.
    pub fn write_next(
        conn: &mut DbConnection,
        sealer: &impl ConfigSealer,
        app_id: &AppId,
        description: String,
        config: &BTreeMap<String, String>,
        created_by: &str,
        slug_id: Option<String>,
    ) -> Result<Release> {
        let version = Release::latest(conn, app_id.as_str())?.map_or(1, |r| r.version + 1);
        let plan_names = attached_plan_names(conn, app_id)?;
        let plain = serde_json::to_vec(config).map_err(|e| Error::internal("serializing a release config", e))?;
        let phase = match &slug_id {
            Some(sid) => Slug::find(conn, sid)?.is_some_and(|s| s.commands().contains_key("release")),
            None => false,
        };
        let release = Release {
            id: ReleaseId::random().into_string(),
            app_id: app_id.to_string(),
            version,
            description,
            config: sealer.seal_config(&plain, &seal_context(app_id.as_str(), version))?,
            addon_plan_names: json!(plan_names).to_string(),
            status: if phase { PENDING } else { SUCCEEDED }.into(),
            created_by: Some(created_by.to_string()),
            created_at: now_ms(),
            slug_id,
        };
        release.insert(conn)?;
        Ok(release)
    }

    /// Writes the next release of an app with `config`, running the current release's slug.
    pub fn write_next_same_slug(
        conn: &mut DbConnection,
        sealer: &impl ConfigSealer,
        app_id: &AppId,
        description: String,
        config: &BTreeMap<String, String>,
        created_by: &str,
    ) -> Result<Release> {
        let slug = Release::latest(conn, app_id.as_str())?.and_then(|r| r.slug_id);
        Release::write_next(conn, sealer, app_id, description, config, created_by, slug)
    }
}

/// `service:plan` of the add-ons attached to an app, sorted, without repeats.
fn attached_plan_names(conn: &mut DbConnection, app_id: &AppId) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for att in Attachment::of_app(conn, app_id.as_str())? {
        if !att.is(AttachmentState::Attached) {
            continue;
        }
        if let Some(addon) = Addon::get(conn, &att.addon_id)? {
            names.push(addon.plan_name());
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}
