//! The platform API's domain (Heroku's shapes): apps, config vars and releases, add-ons and
//! attachments.
//!
//! An add-on is an OSB service instance whose id is the add-on id, and an attachment is an OSB
//! binding whose id is the attachment id; both go through the same [`Provisioning`] code as the
//! OSB API. Config vars live in releases, each a sealed snapshot with a version; the current
//! config is the latest release's.
//!
//! Crash safety: rows are written first (`provisioning`/`pending`/`detaching`/`deprovisioning`),
//! the OSB operations are idempotent per id, and the release that publishes an attachment's
//! credentials is written exactly once, in the transaction that moves the attachment from
//! `pending` to `attached`. [`Platform::reconcile`], run in a loop, finishes whatever a request
//! (or a crashed broker) left half-way, and asynchronous provisions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::{Claims, Scope};
use crate::catalog::clip;
use crate::crypto::Sealer;
use crate::db::models::{instance_state, Addon, App, Attachment, Instance, Release};
use crate::db::schema::{addon_attachments, addons, apps, builds, formations, releases, slugs};
use crate::db::{now_ms, Db, DbConnection};
use crate::error::{Error, Result};
use crate::provisioning::{audit, BindInput, ProvisionInput, Provisioning, Reply, RequestMeta, UpdateInput};

/// Colors for the aliases of second and later add-ons of one service in one app.
const COLORS: [&str; 20] = [
    "AMBER", "BLUE", "BRONZE", "COBALT", "CRIMSON", "GOLD", "GRAY", "GREEN", "IVORY", "JADE", "LIME", "MAROON", "NAVY",
    "OLIVE", "ORANGE", "PINK", "PURPLE", "RED", "SILVER", "TEAL",
];

/// Who is calling, from a verified token.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Token subject.
    pub sub: String,
    /// Token scope.
    pub scope: Scope,
    /// Request id, for the audit log.
    pub request_id: String,
}

impl Actor {
    /// The caller of a request with these claims.
    pub fn new(claims: Claims, request_id: String) -> Actor {
        Actor {
            sub: claims.sub,
            scope: claims.scope,
            request_id,
        }
    }

    pub(crate) fn meta(&self) -> RequestMeta {
        RequestMeta {
            request_id: Some(self.request_id.clone()),
            actor: Some(self.sub.clone()),
        }
    }
}

/// ISO 8601 UTC (`2026-11-26T07:00:00Z`).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A reference to a named resource.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NameRef {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
}

/// An app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppView {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Token subject that created it.
    pub owner: String,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// A slug reference.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdRef {
    /// UUID.
    pub id: String,
}

/// A release.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseView {
    /// UUID.
    pub id: String,
    /// 1, 2, 3 …
    pub version: i32,
    /// What changed.
    pub description: String,
    /// `service:plan` of the add-ons attached at that release.
    pub addon_plan_names: Vec<String>,
    /// The config snapshot: values for the app's owner and admins, `null` values for others.
    pub config_vars: BTreeMap<String, Option<String>>,
    /// Whether this is the app's latest release.
    pub current: bool,
    /// `succeeded`.
    pub status: String,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// The app.
    pub app: NameRef,
    /// The slug (code) it runs; `null` before the first build.
    pub slug: Option<IdRef>,
}

/// An add-on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddonView {
    /// UUID (also the OSB instance id).
    pub id: String,
    /// Name.
    pub name: String,
    /// The owning app.
    pub app: NameRef,
    /// `service:plan`.
    pub plan: String,
    /// Service name.
    pub service: String,
    /// `provisioning`, `provisioned`, `deprovisioning` or `failed`.
    pub state: String,
    /// Config vars the add-on's attachments set (names only).
    pub config_vars: Vec<String>,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// An attachment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    /// UUID (also the OSB binding id).
    pub id: String,
    /// Config var prefix.
    pub name: String,
    /// The add-on.
    pub addon: NameRef,
    /// The app.
    pub app: NameRef,
    /// `pending`, `attached` or `detaching`.
    pub state: String,
    /// ISO 8601 UTC.
    pub created_at: String,
}

/// An audit log entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    /// Entry id.
    pub id: String,
    /// ISO 8601 UTC.
    pub at: String,
    /// Request id.
    pub request_id: Option<String>,
    /// Who (token subject or OSB originating identity).
    pub actor: Option<String>,
    /// What (`platform.app.create` …).
    pub action: String,
    /// On what (`app/<id>` …).
    pub target: String,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// A request to create an add-on.
#[derive(Debug, Clone)]
pub struct NewAddon {
    /// `service:plan`.
    pub plan: String,
    /// Attachment name (config var prefix), else a default.
    pub attachment_name: Option<String>,
    /// Plan parameters.
    pub config: Value,
    /// Add-on name, else generated.
    pub name: Option<String>,
}

/// The platform domain.
#[derive(Clone)]
pub struct Platform {
    db: Db,
    provisioning: Provisioning,
    sealer: Sealer,
    create_wait: Duration,
}

fn lower_random(len: usize) -> String {
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
fn validate_attachment_name(name: &str) -> Result<()> {
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
fn validate_addon_name(name: &str) -> Result<()> {
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

/// `api.requires` of a partner service (from its catalog metadata); `None` for services
/// without the restriction (built-ins and federated ones allow everything).
fn requires(metadata: &Option<Value>) -> Option<Vec<String>> {
    metadata
        .as_ref()
        .and_then(|m| m.get("addonRequires"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
}

/// The default attachment name of a service's first add-on in an app (Heroku's convention): a
/// partner's config var prefix, a federated database's `DATABASE`, else the service's name.
fn default_attachment_name(service: &str, metadata: Option<&Value>) -> String {
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

pub(crate) fn find_app(c: &mut DbConnection, id_or_name: &str) -> Result<App> {
    apps::table
        .filter(apps::id.eq(id_or_name).or(apps::name.eq(id_or_name)))
        .select(App::as_select())
        .first(c)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("app {} does not exist", clip(id_or_name))))
}

fn find_addon(c: &mut DbConnection, id_or_name: &str) -> Result<Addon> {
    addons::table
        .filter(addons::id.eq(id_or_name).or(addons::name.eq(id_or_name)))
        .select(Addon::as_select())
        .first(c)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("add-on {} does not exist", clip(id_or_name))))
}

/// An add-on by its id alone (internal lookups never go by name).
fn addon_by_id(c: &mut DbConnection, id: &str) -> Result<Addon> {
    addons::table
        .find(id)
        .select(Addon::as_select())
        .first(c)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("add-on {} does not exist", clip(id))))
}

pub(crate) fn latest_release(c: &mut DbConnection, app_id: &str) -> Result<Option<Release>> {
    Ok(releases::table
        .filter(releases::app_id.eq(app_id))
        .order(releases::version.desc())
        .select(Release::as_select())
        .first(c)
        .optional()?)
}

fn release_context(app_id: &str, version: i32) -> String {
    format!("release/{app_id}/{version}")
}

pub(crate) fn open_config(sealer: &Sealer, r: &Release) -> Result<BTreeMap<String, String>> {
    let plain = sealer.open(&r.config, &release_context(&r.app_id, r.version))?;
    serde_json::from_slice(&plain).map_err(|e| Error::Internal(format!("release config: {e}")))
}

pub(crate) fn current_config(
    c: &mut DbConnection,
    sealer: &Sealer,
    app_id: &str,
) -> Result<(i32, BTreeMap<String, String>)> {
    match latest_release(c, app_id)? {
        Some(r) => Ok((r.version, open_config(sealer, &r)?)),
        None => Ok((0, BTreeMap::new())),
    }
}

pub(crate) fn attachments_of_app(c: &mut DbConnection, app_id: &str) -> Result<Vec<Attachment>> {
    Ok(addon_attachments::table
        .filter(addon_attachments::app_id.eq(app_id))
        .select(Attachment::as_select())
        .load(c)?)
}

pub(crate) fn attachments_of_addon(c: &mut DbConnection, addon_id: &str) -> Result<Vec<Attachment>> {
    Ok(addon_attachments::table
        .filter(addon_attachments::addon_id.eq(addon_id))
        .select(Attachment::as_select())
        .load(c)?)
}

pub(crate) fn var_names(att: &Attachment) -> Vec<String> {
    serde_json::from_str(&att.vars).unwrap_or_default()
}

/// Writes the next release of an app with `config` and the current release's slug; the
/// caller's transaction makes it atomic.
fn write_release(
    c: &mut DbConnection,
    sealer: &Sealer,
    app_id: &str,
    description: String,
    config: &BTreeMap<String, String>,
    actor: &Actor,
) -> Result<Release> {
    let slug = latest_release(c, app_id)?.and_then(|r| r.slug_id);
    insert_release(c, sealer, app_id, description, config, actor, slug)
}

/// Writes the next release of an app with `config` and `slug_id`.
pub(crate) fn insert_release(
    c: &mut DbConnection,
    sealer: &Sealer,
    app_id: &str,
    description: String,
    config: &BTreeMap<String, String>,
    actor: &Actor,
    slug_id: Option<String>,
) -> Result<Release> {
    let version = latest_release(c, app_id)?.map_or(1, |r| r.version + 1);
    let mut plan_names: Vec<String> = Vec::new();
    for att in attachments_of_app(c, app_id)?
        .into_iter()
        .filter(|a| a.state == "attached")
    {
        if let Some(addon) = addons::table
            .find(&att.addon_id)
            .select(Addon::as_select())
            .first(c)
            .optional()?
        {
            plan_names.push(format!("{}:{}", addon.service, addon.plan));
        }
    }
    plan_names.sort();
    plan_names.dedup();
    let plain = serde_json::to_vec(config).map_err(|e| Error::Internal(e.to_string()))?;
    let release = Release {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: app_id.to_string(),
        version,
        description,
        config: sealer.seal(&plain, &release_context(app_id, version))?,
        addon_plan_names: json!(plan_names).to_string(),
        status: "succeeded".into(),
        created_by: Some(actor.sub.clone()),
        created_at: now_ms(),
        slug_id,
    };
    diesel::insert_into(releases::table).values(&release).execute(c)?;
    Ok(release)
}

/// Writes an attachment that has no binding yet (`pending`); [`Platform::attach`] completes it.
fn insert_pending_attachment(
    c: &mut DbConnection,
    id: String,
    addon_id: &str,
    app_id: &str,
    name: String,
    now: i64,
) -> Result<Attachment> {
    let att = Attachment {
        id,
        addon_id: addon_id.to_string(),
        app_id: app_id.to_string(),
        name,
        state: "pending".into(),
        vars: "[]".into(),
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(addon_attachments::table).values(&att).execute(c)?;
    Ok(att)
}

fn unique_violation(e: &Error) -> bool {
    matches!(
        e,
        Error::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

impl Platform {
    /// The platform domain over the state store and the provisioning domain.
    pub fn new(db: Db, provisioning: Provisioning, sealer: Sealer, create_wait: Duration) -> Platform {
        Platform {
            db,
            provisioning,
            sealer,
            create_wait,
        }
    }

    /// The provisioning domain.
    pub fn provisioning(&self) -> &Provisioning {
        &self.provisioning
    }

    fn app_view(app: &App) -> AppView {
        AppView {
            id: app.id.clone(),
            name: app.name.clone(),
            owner: app.owner.clone(),
            created_at: iso(app.created_at),
            updated_at: iso(app.updated_at),
        }
    }

    /// Creates an app (and its first release, with no config vars).
    pub async fn create_app(&self, name: Option<String>, actor: &Actor) -> Result<AppView> {
        let generated = name.is_none();
        let name = name.unwrap_or_else(|| format!("app-{}", lower_random(8)));
        validate_app_name(&name)?;
        let (sealer, actor2) = (self.sealer.clone(), actor.clone());
        let result = self
            .db
            .write(move |c| {
                let now = now_ms();
                let app = App {
                    id: uuid::Uuid::new_v4().to_string(),
                    name: name.clone(),
                    owner: actor2.sub.clone(),
                    created_at: now,
                    updated_at: now,
                };
                diesel::insert_into(apps::table).values(&app).execute(c)?;
                write_release(c, &sealer, &app.id, "Initial release".into(), &BTreeMap::new(), &actor2)?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.app.create",
                    format!("app/{}", app.id),
                    json!({ "name": app.name }),
                )?;
                Ok(app)
            })
            .await;
        match result {
            Ok(app) => Ok(Self::app_view(&app)),
            Err(e) if unique_violation(&e) && !generated => Err(Error::Conflict("that app name is taken".into())),
            Err(e) => Err(e),
        }
    }

    /// Lists apps, by name.
    pub async fn list_apps(&self) -> Result<Vec<AppView>> {
        let apps = self
            .db
            .run(|c| Ok(apps::table.order(apps::name.asc()).select(App::as_select()).load(c)?))
            .await?;
        Ok(apps.iter().map(Self::app_view).collect())
    }

    /// One app, by id or name.
    pub async fn get_app(&self, app: String) -> Result<AppView> {
        let app = self.db.run(move |c| find_app(c, &app)).await?;
        Ok(Self::app_view(&app))
    }

    /// Renames an app.
    pub async fn rename_app(&self, app: String, name: String, actor: &Actor) -> Result<AppView> {
        validate_app_name(&name)?;
        let actor = actor.clone();
        let result = self
            .db
            .write(move |c| {
                let mut a = find_app(c, &app)?;
                a.name = name.clone();
                a.updated_at = now_ms();
                diesel::update(apps::table.find(&a.id)).set(&a).execute(c)?;
                audit(
                    c,
                    &actor.meta(),
                    "platform.app.rename",
                    format!("app/{}", a.id),
                    json!({ "name": a.name }),
                )?;
                Ok(a)
            })
            .await;
        match result {
            Ok(a) => Ok(Self::app_view(&a)),
            Err(e) if unique_violation(&e) => Err(Error::Conflict("that app name is taken".into())),
            Err(e) => Err(e),
        }
    }

    /// Deletes an app. With add-ons attached, `confirm` must repeat the app's name; then its
    /// own add-ons are destroyed and other apps' add-ons detached from it.
    pub async fn delete_app(&self, app: String, confirm: Option<String>, actor: &Actor) -> Result<AppView> {
        let (a, own, attached) = self
            .db
            .run(move |c| {
                let a = find_app(c, &app)?;
                let own: Vec<Addon> = addons::table
                    .filter(addons::app_id.eq(&a.id))
                    .select(Addon::as_select())
                    .load(c)?;
                let attached = attachments_of_app(c, &a.id)?;
                Ok((a, own, attached))
            })
            .await?;
        if (!own.is_empty() || !attached.is_empty()) && confirm.as_deref() != Some(a.name.as_str()) {
            return Err(Error::Conflict(format!(
                "app {} has add-ons; to destroy it and them, repeat its name in \"confirm\"",
                a.name
            )));
        }
        for addon in own {
            self.destroy_addon(addon, actor).await?;
        }
        let left = {
            let id = a.id.clone();
            self.db.run(move |c| attachments_of_app(c, &id)).await?
        };
        if !left.is_empty() {
            self.detach_group(left, actor).await?;
        }
        let (id, actor2) = (a.id.clone(), actor.clone());
        self.db
            .write(move |c| {
                // An add-on created or attached since the check above keeps the app alive.
                let own: i64 = addons::table.filter(addons::app_id.eq(&id)).count().get_result(c)?;
                if own > 0 || !attachments_of_app(c, &id)?.is_empty() {
                    return Err(Error::Conflict(
                        "the app gained an add-on meanwhile; delete again to confirm".into(),
                    ));
                }
                // Dynos of a deleted app are stopped by the dyno manager, which finds no app for
                // them; slug directories without a row are collected by it too.
                diesel::delete(formations::table.filter(formations::app_id.eq(&id))).execute(c)?;
                diesel::delete(builds::table.filter(builds::app_id.eq(&id))).execute(c)?;
                diesel::delete(releases::table.filter(releases::app_id.eq(&id))).execute(c)?;
                diesel::delete(slugs::table.filter(slugs::app_id.eq(&id))).execute(c)?;
                diesel::delete(apps::table.find(&id)).execute(c)?;
                audit(c, &actor2.meta(), "platform.app.delete", format!("app/{id}"), json!({}))
            })
            .await?;
        Ok(Self::app_view(&a))
    }

    /// The app's current config vars: values for the app's owner and admins, `null` for
    /// others (as in releases).
    pub async fn config_vars(&self, app: String, actor: &Actor) -> Result<BTreeMap<String, Option<String>>> {
        let sealer = self.sealer.clone();
        let (a, config) = self
            .db
            .run(move |c| {
                let a = find_app(c, &app)?;
                let config = current_config(c, &sealer, &a.id)?.1;
                Ok((a, config))
            })
            .await?;
        let reveal = Self::reveals(&a, actor);
        Ok(config.into_iter().map(|(k, v)| (k, reveal.then_some(v))).collect())
    }

    /// Sets (`"value"`) and unsets (`null`) config vars; one release when anything changed,
    /// none otherwise. Returns the config after the change.
    pub async fn patch_config_vars(
        &self,
        app: String,
        changes: BTreeMap<String, Option<String>>,
        actor: &Actor,
    ) -> Result<BTreeMap<String, String>> {
        for (name, value) in &changes {
            validate_var_name(name)?;
            if value.as_deref().is_some_and(|v| v.contains('\0')) {
                return Err(Error::BadRequest(format!("config var {name} contains a NUL byte")));
            }
        }
        let (sealer, actor) = (self.sealer.clone(), actor.clone());
        self.db
            .write(move |c| {
                let a = find_app(c, &app)?;
                let (_, mut config) = current_config(c, &sealer, &a.id)?;
                let (mut set, mut unset) = (Vec::new(), Vec::new());
                for (k, v) in &changes {
                    match v {
                        Some(v) if config.get(k) != Some(v) => {
                            config.insert(k.clone(), v.clone());
                            set.push(k.clone());
                        }
                        None if config.remove(k).is_some() => unset.push(k.clone()),
                        _ => {}
                    }
                }
                if set.is_empty() && unset.is_empty() {
                    return Ok(config);
                }
                let mut parts = Vec::new();
                if !set.is_empty() {
                    parts.push(format!("Set {} config vars", set.join(", ")));
                }
                if !unset.is_empty() {
                    parts.push(format!("Unset {} config vars", unset.join(", ")));
                }
                write_release(c, &sealer, &a.id, parts.join("; "), &config, &actor)?;
                audit(
                    c,
                    &actor.meta(),
                    "platform.config_vars.update",
                    format!("app/{}", a.id),
                    json!({ "set": set, "unset": unset }),
                )?;
                Ok(config)
            })
            .await
    }

    fn release_view(&self, app: &App, r: &Release, current: bool, reveal: bool) -> Result<ReleaseView> {
        let config = open_config(&self.sealer, r)?;
        Ok(ReleaseView {
            id: r.id.clone(),
            version: r.version,
            description: r.description.clone(),
            addon_plan_names: serde_json::from_str(&r.addon_plan_names).unwrap_or_default(),
            config_vars: config.into_iter().map(|(k, v)| (k, reveal.then_some(v))).collect(),
            current,
            status: r.status.clone(),
            created_at: iso(r.created_at),
            app: NameRef {
                id: app.id.clone(),
                name: app.name.clone(),
            },
            slug: r.slug_id.clone().map(|id| IdRef { id }),
        })
    }

    fn reveals(app: &App, actor: &Actor) -> bool {
        actor.scope == Scope::Admin || actor.sub == app.owner
    }

    /// An app's releases, oldest first.
    pub async fn releases(&self, app: String, actor: &Actor) -> Result<Vec<ReleaseView>> {
        let (a, list) = self
            .db
            .run(move |c| {
                let a = find_app(c, &app)?;
                let list: Vec<Release> = releases::table
                    .filter(releases::app_id.eq(&a.id))
                    .order(releases::version.asc())
                    .select(Release::as_select())
                    .load(c)?;
                Ok((a, list))
            })
            .await?;
        let last = list.last().map(|r| r.version);
        let reveal = Self::reveals(&a, actor);
        list.iter()
            .map(|r| self.release_view(&a, r, Some(r.version) == last, reveal))
            .collect()
    }

    /// One release, by id or version.
    pub async fn release(&self, app: String, id_or_version: String, actor: &Actor) -> Result<ReleaseView> {
        let (a, r, last) = self.db.run(move |c| find_release(c, &app, &id_or_version)).await?;
        self.release_view(&a, &r, r.version == last, Self::reveals(&a, actor))
    }

    /// Rolls config vars back to a release's, as a new release.
    pub async fn rollback(&self, app: String, release: String, actor: &Actor) -> Result<ReleaseView> {
        let (sealer, actor2) = (self.sealer.clone(), actor.clone());
        let (a, r) = self
            .db
            .write(move |c| {
                let (a, target, _) = find_release(c, &app, &release)?;
                let config = open_config(&sealer, &target)?;
                // A rollback restores the target's code as well as its config vars.
                let r = insert_release(
                    c,
                    &sealer,
                    &a.id,
                    format!("Rollback to v{}", target.version),
                    &config,
                    &actor2,
                    target.slug_id.clone(),
                )?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.release.rollback",
                    format!("app/{}", a.id),
                    json!({ "to": target.version, "version": r.version }),
                )?;
                Ok((a, r))
            })
            .await?;
        self.release_view(&a, &r, true, Self::reveals(&a, actor))
    }

    fn addon_view(c: &mut DbConnection, addon: &Addon) -> Result<AddonView> {
        let app = apps::table
            .find(&addon.app_id)
            .select(App::as_select())
            .first(c)
            .optional()?;
        let mut vars: Vec<String> = attachments_of_addon(c, &addon.id)?.iter().flat_map(var_names).collect();
        vars.sort();
        Ok(AddonView {
            id: addon.id.clone(),
            name: addon.name.clone(),
            app: NameRef {
                id: addon.app_id.clone(),
                name: app.map(|a| a.name).unwrap_or_default(),
            },
            plan: format!("{}:{}", addon.service, addon.plan),
            service: addon.service.clone(),
            state: addon.state.clone(),
            config_vars: vars,
            created_at: iso(addon.created_at),
            updated_at: iso(addon.updated_at),
        })
    }

    fn attachment_view(c: &mut DbConnection, att: &Attachment) -> Result<AttachmentView> {
        let addon = addons::table
            .find(&att.addon_id)
            .select(Addon::as_select())
            .first(c)
            .optional()?;
        let app = apps::table
            .find(&att.app_id)
            .select(App::as_select())
            .first(c)
            .optional()?;
        Ok(AttachmentView {
            id: att.id.clone(),
            name: att.name.clone(),
            addon: NameRef {
                id: att.addon_id.clone(),
                name: addon.map(|a| a.name).unwrap_or_default(),
            },
            app: NameRef {
                id: att.app_id.clone(),
                name: app.map(|a| a.name).unwrap_or_default(),
            },
            state: att.state.clone(),
            created_at: iso(att.created_at),
        })
    }

    /// Resolves `service:plan` against the catalog.
    fn resolve_plan(&self, plan: &str) -> Result<(String, String, String, String)> {
        let (service, plan_name) = plan
            .split_once(':')
            .ok_or_else(|| Error::Unprocessable(format!("plan {} must be service:plan", clip(plan))))?;
        let catalog = self.provisioning.catalog();
        let svc = catalog
            .services()
            .find(|s| s.name == service)
            .ok_or_else(|| Error::Unprocessable(format!("no add-on service {}", clip(service))))?;
        let p = svc
            .plans
            .iter()
            .find(|p| p.name == plan_name)
            .ok_or_else(|| Error::Unprocessable(format!("service {} has no plan {}", svc.name, clip(plan_name))))?;
        Ok((svc.id.clone(), p.id.clone(), svc.name.clone(), p.name.clone()))
    }

    /// Creates an add-on for an app: provisions, binds, attaches and releases its config vars.
    /// `(view, true)` when it is provisioned now; `(view, false)` when provisioning goes on (the
    /// config vars arrive in a later release).
    pub async fn create_addon(&self, app: String, req: NewAddon, actor: &Actor) -> Result<(AddonView, bool)> {
        let (service_id, plan_id, service, plan) = self.resolve_plan(&req.plan)?;
        let metadata = self.service_metadata(&service_id);
        let one_per_app = requires(&metadata).is_some_and(|r| !r.contains(&"many_per_app".to_string()));
        if !req.config.is_object() {
            return Err(Error::BadRequest("config must be a JSON object".into()));
        }
        if let Some(n) = &req.attachment_name {
            validate_attachment_name(n)?;
        }
        if let Some(n) = &req.name {
            validate_addon_name(n)?;
        }
        let addon_id = uuid::Uuid::new_v4().to_string();
        let attachment_id = uuid::Uuid::new_v4().to_string();
        let (ids, actor2, reqc) = ((addon_id.clone(), attachment_id.clone()), actor.clone(), req.clone());
        let (svc, pl) = (service.clone(), plan.clone());
        let app_row = self
            .db
            .write(move |c| {
                let a = find_app(c, &app)?;
                if one_per_app {
                    let existing: i64 = addons::table
                        .filter(addons::app_id.eq(&a.id))
                        .filter(addons::service.eq(&svc))
                        .filter(addons::state.ne("failed"))
                        .count()
                        .get_result(c)?;
                    if existing > 0 {
                        return Err(Error::Unprocessable(format!(
                            "app {} already has a {svc} add-on, and its provider allows one per app (no many_per_app)",
                            a.name
                        )));
                    }
                }
                let taken: BTreeSet<String> = attachments_of_app(c, &a.id)?.into_iter().map(|x| x.name).collect();
                let name = match &reqc.attachment_name {
                    Some(n) if taken.contains(n) => {
                        return Err(Error::Conflict(format!(
                            "attachment name {n} is already used in app {}",
                            a.name
                        )))
                    }
                    Some(n) => n.clone(),
                    None => {
                        let first = default_attachment_name(&svc, metadata.as_ref());
                        if !taken.contains(&first) {
                            first
                        } else {
                            // Aliases build on the service's name (`POSTGRESQL_AMBER`), or on a
                            // partner's config var prefix (`ACME_AMBER`).
                            let base = metadata
                                .as_ref()
                                .and_then(|m| m.get("configVarsPrefix"))
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| svc.to_ascii_uppercase().replace('-', "_"));
                            COLORS
                                .iter()
                                .map(|color| format!("{base}_{color}"))
                                .chain((2..1000).map(|i| format!("{base}_{i}")))
                                .find(|n| !taken.contains(n))
                                .ok_or_else(|| Error::Conflict("no free attachment name".into()))?
                        }
                    }
                };
                let addon_name = reqc
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{svc}-{}", lower_random(8)));
                let now = now_ms();
                let addon = Addon {
                    id: ids.0.clone(),
                    name: addon_name,
                    app_id: a.id.clone(),
                    service: svc.clone(),
                    plan: pl.clone(),
                    config: reqc.config.to_string(),
                    state: "provisioning".into(),
                    created_at: now,
                    updated_at: now,
                };
                diesel::insert_into(addons::table).values(&addon).execute(c)?;
                insert_pending_attachment(c, ids.1.clone(), &addon.id, &a.id, name, now)?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.addon.create",
                    format!("addon/{}", addon.id),
                    json!({ "app": a.name, "plan": format!("{}:{}", addon.service, addon.plan), "name": addon.name }),
                )?;
                Ok((a, addon.name))
            })
            .await
            .map_err(|e| {
                if unique_violation(&e) {
                    Error::Conflict("that add-on name is taken".into())
                } else {
                    e
                }
            })?;

        let (app_row, addon_name) = app_row;
        let input = ProvisionInput {
            instance_id: addon_id.clone(),
            service_id,
            plan_id,
            organization_guid: "addon-broker-platform".into(),
            space_guid: app_row.id.clone(),
            context: json!({ "platform": "addon-broker", "app_id": app_row.id, "app_name": app_row.name, "addon_name": addon_name }),
            parameters: req.config.clone(),
            maintenance_version: None,
            accepts_incomplete: true,
            prefer_wait: Some(self.create_wait),
        };
        match self.provisioning.provision(input, actor.meta()).await {
            // Created, or still provisioning (the reconciler finishes it), or failed on the
            // backend (the add-on is marked failed below).
            Ok(_) | Err(Error::Backend(_)) => {}
            Err(e) => {
                let id = addon_id.clone();
                let instance = self.db.run(move |c| Instance::find(c, &id)).await?;
                if instance.is_none() {
                    // Refused before anything was provisioned: leave nothing behind.
                    let (a, b) = (addon_id.clone(), attachment_id.clone());
                    self.db
                        .write(move |c| {
                            diesel::delete(addon_attachments::table.find(&b)).execute(c)?;
                            diesel::delete(addons::table.find(&a)).execute(c)?;
                            Ok(())
                        })
                        .await?;
                    return Err(e);
                }
                // The instance exists: the reconciler carries the add-on on (202 below).
                tracing::warn!(addon = %addon_id, error = %e, "provisioning an add-on goes on in the background");
            }
        }
        if let Err(e) = self.advance_addon(&addon_id, actor).await {
            // Provisioned but not yet attached: the reconciler retries, and the caller gets
            // 202 rather than an error that would make it create a second add-on.
            tracing::warn!(addon = %addon_id, error = %e, "attaching an add-on goes on in the background");
        }
        let id = addon_id.clone();
        let view = self
            .db
            .run(move |c| {
                let addon = addon_by_id(c, &id)?;
                Self::addon_view(c, &addon)
            })
            .await?;
        let done = view.state == "provisioned";
        if view.state == "failed" {
            return Err(Error::Backend(format!("provisioning add-on {} failed", view.name)));
        }
        Ok((view, done))
    }

    /// Moves an add-on forward: once its instance is provisioned, binds and releases each
    /// pending attachment; a failed provision marks it failed. Idempotent.
    pub async fn advance_addon(&self, addon_id: &str, actor: &Actor) -> Result<()> {
        let id = addon_id.to_string();
        let (addon, inst, pending) = self
            .db
            .run(move |c| {
                let addon = addon_by_id(c, &id)?;
                let inst = Instance::find(c, &addon.id)?;
                let pending: Vec<Attachment> = attachments_of_addon(c, &addon.id)?
                    .into_iter()
                    .filter(|a| a.state == "pending")
                    .collect();
                Ok((addon, inst, pending))
            })
            .await?;
        if inst.is_none() && addon.state == "provisioning" {
            // A broker died between writing the add-on and provisioning it: provision now (the
            // same id, so a repeat converges).
            return self.provision_again(&addon, actor).await;
        }
        let state = inst.as_ref().map(|i| i.state.as_str()).unwrap_or("missing");
        if state == instance_state::FAILED && addon.state == "provisioning" {
            let id = addon.id.clone();
            self.db
                .write(move |c| {
                    diesel::update(addons::table.find(&id).filter(addons::state.eq("provisioning")))
                        .set(addons::state.eq("failed"))
                        .execute(c)?;
                    diesel::delete(
                        addon_attachments::table
                            .filter(addon_attachments::addon_id.eq(&id))
                            .filter(addon_attachments::state.eq("pending")),
                    )
                    .execute(c)?;
                    Ok(())
                })
                .await?;
            return Ok(());
        }
        if state != instance_state::PROVISIONED {
            return Ok(());
        }
        for att in pending {
            self.attach(&addon, att, actor).await?;
        }
        if addon.state == "provisioning" {
            let id = addon.id.clone();
            self.db
                .write(move |c| {
                    diesel::update(addons::table.find(&id).filter(addons::state.eq("provisioning")))
                        .set((addons::state.eq("provisioned"), addons::updated_at.eq(now_ms())))
                        .execute(c)?;
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }

    /// The catalog ids an add-on's instance is on now (the instance is the truth: a plan change
    /// that outlived its request has moved it even if the add-on row lags).
    async fn instance_ids(&self, addon: &Addon) -> Result<(String, String)> {
        let id = addon.id.clone();
        match self.db.run(move |c| Instance::find(c, &id)).await? {
            Some(inst) => {
                if let Some(plan) = self
                    .provisioning
                    .catalog()
                    .resolve(&inst.service_id, &inst.plan_id)
                    .ok()
                    .map(|(_, p)| p.name.clone())
                {
                    if plan != addon.plan {
                        let (id, plan) = (addon.id.clone(), plan.clone());
                        self.db
                            .write(move |c| {
                                diesel::update(addons::table.find(&id))
                                    .set(addons::plan.eq(&plan))
                                    .execute(c)?;
                                Ok(())
                            })
                            .await?;
                    }
                }
                Ok((inst.service_id, inst.plan_id))
            }
            None => {
                let (service_id, plan_id, _, _) = self.resolve_plan(&format!("{}:{}", addon.service, addon.plan))?;
                Ok((service_id, plan_id))
            }
        }
    }

    /// Provisions an add-on whose instance was never written (its request died first).
    async fn provision_again(&self, addon: &Addon, actor: &Actor) -> Result<()> {
        let (service_id, plan_id, _, _) = self.resolve_plan(&format!("{}:{}", addon.service, addon.plan))?;
        let app_id = addon.app_id.clone();
        let app = self.db.run(move |c| find_app(c, &app_id)).await?;
        let input = ProvisionInput {
            instance_id: addon.id.clone(),
            service_id,
            plan_id,
            organization_guid: "addon-broker-platform".into(),
            space_guid: app.id.clone(),
            context: json!({ "platform": "addon-broker", "app_id": app.id, "app_name": app.name, "addon_name": addon.name }),
            parameters: serde_json::from_str(&addon.config).unwrap_or_else(|_| json!({})),
            maintenance_version: None,
            accepts_incomplete: true,
            prefer_wait: None,
        };
        self.provisioning.provision(input, actor.meta()).await.map(|_| ())
    }

    /// Binds a pending attachment and releases its config vars, exactly once.
    async fn attach(&self, addon: &Addon, att: Attachment, actor: &Actor) -> Result<()> {
        let (service_id, plan_id) = self.instance_ids(addon).await?;
        let input = BindInput {
            instance_id: addon.id.clone(),
            binding_id: att.id.clone(),
            service_id: service_id.clone(),
            plan_id: plan_id.clone(),
            context: json!({ "platform": "addon-broker" }),
            bind_resource: json!({ "app_guid": att.app_id }),
            parameters: json!({}),
            accepts_incomplete: false,
        };
        let view = match self.provisioning.bind(input, actor.meta()).await? {
            Reply::Created(v) | Reply::Exists(v) => v,
            Reply::Accepted(_) => return Ok(()),
        };
        let (sealer, actor2, addon_name) = (self.sealer.clone(), actor.clone(), addon.name.clone());
        let env = view.env.clone();
        let att_id = att.id.clone();
        let published = self
            .db
            .write(move |c| {
                let Some(mut current) = addon_attachments::table
                    .find(&att_id)
                    .select(Attachment::as_select())
                    .first(c)
                    .optional()?
                else {
                    return Ok(false);
                };
                if current.state != "pending" {
                    return Ok(current.state == "attached");
                }
                let (_, mut config) = current_config(c, &sealer, &current.app_id)?;
                let managed: BTreeSet<String> = attachments_of_app(c, &current.app_id)?
                    .iter()
                    .filter(|a| a.id != current.id)
                    .flat_map(var_names)
                    .collect();
                let mut names = Vec::new();
                let mut overwrote = Vec::new();
                for (suffix, value) in &env {
                    let var = format!("{}_{suffix}", current.name);
                    if managed.contains(&var) {
                        return Err(Error::Conflict(format!(
                            "config var {var} belongs to another attachment"
                        )));
                    }
                    if config.contains_key(&var) {
                        overwrote.push(var.clone());
                    }
                    config.insert(var.clone(), value.clone());
                    names.push(var);
                }
                current.state = "attached".into();
                current.vars = json!(names).to_string();
                current.updated_at = now_ms();
                diesel::update(addon_attachments::table.find(&current.id))
                    .set(&current)
                    .execute(c)?;
                let mut description = format!("Attach {} ({addon_name})", current.name);
                if !overwrote.is_empty() {
                    description.push_str(&format!("; replaced user-set {}", overwrote.join(", ")));
                }
                write_release(c, &sealer, &current.app_id, description, &config, &actor2)?;
                Ok(true)
            })
            .await?;
        if !published {
            // The attachment was detached while this bind ran: take the binding back so no
            // credentials outlive it.
            self.unbind_if_bound(&addon.id, &att.id, service_id, plan_id, actor)
                .await?;
        }
        Ok(())
    }

    /// Unbinds an attachment's binding; a binding that is already gone is fine.
    async fn unbind_if_bound(
        &self,
        addon_id: &str,
        attachment_id: &str,
        service_id: String,
        plan_id: String,
        actor: &Actor,
    ) -> Result<()> {
        let result = self
            .provisioning
            .unbind(
                addon_id.to_string(),
                attachment_id.to_string(),
                service_id,
                plan_id,
                false,
                actor.meta(),
            )
            .await;
        match result {
            Ok(_) | Err(Error::Gone(_)) | Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Unbinds a group of attachments of one app and removes their config vars in one release.
    async fn detach_group(&self, group: Vec<Attachment>, actor: &Actor) -> Result<()> {
        let ids: Vec<String> = group.iter().map(|a| a.id.clone()).collect();
        {
            let ids = ids.clone();
            self.db
                .write(move |c| {
                    diesel::update(addon_attachments::table.filter(addon_attachments::id.eq_any(&ids)))
                        .set(addon_attachments::state.eq("detaching"))
                        .execute(c)?;
                    Ok(())
                })
                .await?;
        }
        let mut names = Vec::new();
        for att in &group {
            let addon_id = att.addon_id.clone();
            let addon = self.db.run(move |c| addon_by_id(c, &addon_id)).await?;
            let (service_id, plan_id) = self.instance_ids(&addon).await?;
            self.unbind_if_bound(&addon.id, &att.id, service_id, plan_id, actor)
                .await?;
            names.push(format!("{} ({})", att.name, addon.name));
        }
        let (sealer, actor2) = (self.sealer.clone(), actor.clone());
        let Some(app_id) = group.first().map(|a| a.app_id.clone()) else {
            return Ok(());
        };
        self.db
            .write(move |c| {
                let atts: Vec<Attachment> = addon_attachments::table
                    .filter(addon_attachments::id.eq_any(&ids))
                    .select(Attachment::as_select())
                    .load(c)?;
                if atts.is_empty() {
                    return Ok(());
                }
                let (_, mut config) = current_config(c, &sealer, &app_id)?;
                let mut removed = false;
                for att in &atts {
                    for var in var_names(att) {
                        removed |= config.remove(&var).is_some();
                    }
                }
                diesel::delete(addon_attachments::table.filter(addon_attachments::id.eq_any(&ids))).execute(c)?;
                if removed {
                    write_release(
                        c,
                        &sealer,
                        &app_id,
                        format!("Detach {}", names.join(", ")),
                        &config,
                        &actor2,
                    )?;
                }
                Ok(())
            })
            .await
    }

    /// Detaches an add-on everywhere (one release per app), unbinds, and deprovisions it.
    async fn destroy_addon(&self, addon: Addon, actor: &Actor) -> Result<()> {
        let id = addon.id.clone();
        let atts = self
            .db
            .write(move |c| {
                diesel::update(addons::table.find(&id))
                    .set(addons::state.eq("deprovisioning"))
                    .execute(c)?;
                attachments_of_addon(c, &id)
            })
            .await?;
        let mut by_app: BTreeMap<String, Vec<Attachment>> = BTreeMap::new();
        for att in atts {
            by_app.entry(att.app_id.clone()).or_default().push(att);
        }
        for (_, group) in by_app {
            self.detach_group(group, actor).await?;
        }
        let (service_id, plan_id) = self.instance_ids(&addon).await?;
        match self
            .provisioning
            .deprovision(addon.id.clone(), service_id, plan_id, false, actor.meta())
            .await
        {
            Ok(_) | Err(Error::Gone(_)) => {}
            Err(e) => return Err(e),
        }
        let (id, actor2) = (addon.id.clone(), actor.clone());
        self.db
            .write(move |c| {
                diesel::delete(addons::table.find(&id)).execute(c)?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.addon.destroy",
                    format!("addon/{id}"),
                    json!({}),
                )
            })
            .await
    }

    /// The catalog metadata of a service (by id), when the catalog has it.
    fn service_metadata(&self, service_id: &str) -> Option<Value> {
        self.provisioning
            .catalog()
            .provider(service_id)
            .map(|p| p.service().metadata.clone())
    }

    /// Destroys an add-on whoever owns it (the admin API's forced cleanup): detached from every
    /// app, unbound, deprovisioned.
    pub async fn force_destroy_addon(&self, addon_id: String, actor: &Actor) -> Result<()> {
        let addon = self.db.run(move |c| addon_by_id(c, &addon_id)).await?;
        self.destroy_addon(addon, actor).await
    }

    /// An add-on of an app (owned or attached) with the app.
    pub async fn addon_of_app(&self, app: String, addon: String) -> Result<(Addon, App)> {
        self.db
            .run(move |c| {
                let a = find_app(c, &app)?;
                let found = find_addon(c, &addon)?;
                let attached = attachments_of_app(c, &a.id)?.iter().any(|x| x.addon_id == found.id);
                if found.app_id != a.id && !attached {
                    return Err(Error::NotFound(format!(
                        "add-on {} is not attached to app {}",
                        clip(&addon),
                        a.name
                    )));
                }
                Ok((found, a))
            })
            .await
    }

    /// Inside the caller's transaction: replaces an add-on's vars on every app it is attached to
    /// with `env` (suffixes, prefixed by each attachment's name), one release per app whose
    /// config changes. The dyno manager coalesces the restarts of releases that land together.
    pub(crate) fn republish_addon_config(
        &self,
        c: &mut DbConnection,
        addon_id: &str,
        env: &BTreeMap<String, String>,
        actor: &Actor,
    ) -> Result<usize> {
        let Some(addon) = addons::table
            .find(addon_id)
            .select(Addon::as_select())
            .first(c)
            .optional()?
        else {
            return Ok(0);
        };
        let mut by_app: BTreeMap<String, Vec<Attachment>> = BTreeMap::new();
        for att in attachments_of_addon(c, addon_id)?
            .into_iter()
            .filter(|a| a.state == "attached")
        {
            by_app.entry(att.app_id.clone()).or_default().push(att);
        }
        let mut released = 0;
        for (app_id, atts) in by_app {
            let (_, mut config) = current_config(c, &self.sealer, &app_id)?;
            let before = config.clone();
            // Vars another attachment of the app owns are never taken over.
            let others: BTreeSet<String> = attachments_of_app(c, &app_id)?
                .iter()
                .filter(|a| a.addon_id != addon_id)
                .flat_map(var_names)
                .collect();
            for att in &atts {
                for suffix in env.keys() {
                    let var = format!("{}_{suffix}", att.name);
                    if others.contains(&var) {
                        return Err(Error::Conflict(format!(
                            "config var {var} belongs to another attachment of the app"
                        )));
                    }
                }
            }
            for mut att in atts {
                for var in var_names(&att) {
                    config.remove(&var);
                }
                let mut names = Vec::new();
                for (suffix, value) in env {
                    let var = format!("{}_{suffix}", att.name);
                    config.insert(var.clone(), value.clone());
                    names.push(var);
                }
                att.vars = json!(names).to_string();
                att.updated_at = now_ms();
                diesel::update(addon_attachments::table.find(&att.id))
                    .set(&att)
                    .execute(c)?;
            }
            if config != before {
                write_release(
                    c,
                    &self.sealer,
                    &app_id,
                    format!("Update config of {} (by its provider)", addon.name),
                    &config,
                    actor,
                )?;
                released += 1;
            }
        }
        Ok(released)
    }

    /// Add-ons, all or an app's (owned or attached).
    pub async fn list_addons(&self, app: Option<String>) -> Result<Vec<AddonView>> {
        self.db
            .run(move |c| {
                let list: Vec<Addon> = match app {
                    None => addons::table
                        .order(addons::name.asc())
                        .select(Addon::as_select())
                        .load(c)?,
                    Some(app) => {
                        let a = find_app(c, &app)?;
                        let attached: Vec<String> =
                            attachments_of_app(c, &a.id)?.into_iter().map(|x| x.addon_id).collect();
                        addons::table
                            .filter(addons::app_id.eq(&a.id).or(addons::id.eq_any(&attached)))
                            .order(addons::name.asc())
                            .select(Addon::as_select())
                            .load(c)?
                    }
                };
                list.iter().map(|a| Self::addon_view(c, a)).collect()
            })
            .await
    }

    /// One add-on of an app, by id or name.
    pub async fn get_addon(&self, app: String, addon: String) -> Result<AddonView> {
        self.db
            .run(move |c| {
                let a = find_app(c, &app)?;
                let addon = find_addon(c, &addon)?;
                let attached = attachments_of_addon(c, &addon.id)?.iter().any(|x| x.app_id == a.id);
                if addon.app_id != a.id && !attached {
                    return Err(Error::NotFound(format!(
                        "add-on {} is not on app {}",
                        addon.name, a.name
                    )));
                }
                Self::addon_view(c, &addon)
            })
            .await
    }

    /// An add-on of the app that owns it: 422 when the app only has it attached.
    async fn owned_addon(&self, app: String, addon: String) -> Result<AddonView> {
        let view = self.get_addon(app.clone(), addon).await?;
        if view.app.id != app && view.app.name != app {
            return Err(Error::Unprocessable(format!(
                "add-on {} belongs to app {}; change or destroy it there",
                view.name, view.app.name
            )));
        }
        Ok(view)
    }

    /// Changes an add-on's plan (same service).
    pub async fn change_plan(&self, app: String, addon: String, plan: String, actor: &Actor) -> Result<AddonView> {
        let (service_id, plan_id, service, plan_name) = self.resolve_plan(&plan)?;
        let current = self.owned_addon(app, addon).await?;
        if current.service != service {
            return Err(Error::Unprocessable(format!(
                "add-on {} is a {} add-on; it cannot move to {}",
                current.name,
                current.service,
                clip(&plan)
            )));
        }
        let input = UpdateInput {
            instance_id: current.id.clone(),
            service_id,
            plan_id: Some(plan_id),
            parameters: None,
            context: None,
            maintenance_version: None,
            accepts_incomplete: false,
        };
        self.provisioning.update(input, actor.meta()).await?;
        let (id, actor2) = (current.id.clone(), actor.clone());
        self.db
            .write(move |c| {
                diesel::update(addons::table.find(&id))
                    .set((addons::plan.eq(&plan_name), addons::updated_at.eq(now_ms())))
                    .execute(c)?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.addon.update",
                    format!("addon/{id}"),
                    json!({ "plan": plan_name }),
                )?;
                let addon = find_addon(c, &id)?;
                Self::addon_view(c, &addon)
            })
            .await
    }

    /// Destroys an add-on of the app that owns it.
    pub async fn delete_addon(&self, app: String, addon: String, actor: &Actor) -> Result<AddonView> {
        let view = self.owned_addon(app, addon).await?;
        let id = view.id.clone();
        let addon = self.db.run(move |c| find_addon(c, &id)).await?;
        self.destroy_addon(addon, actor).await?;
        Ok(view)
    }

    /// Attaches an existing add-on to an app with its own binding.
    pub async fn create_attachment(
        &self,
        addon: String,
        app: String,
        name: Option<String>,
        actor: &Actor,
    ) -> Result<AttachmentView> {
        if let Some(n) = &name {
            validate_attachment_name(n)?;
        }
        let actor2 = actor.clone();
        let catalog = self.provisioning.catalog();
        let (addon_row, att) = self
            .db
            .write(move |c| {
                let a = find_app(c, &app)?;
                let addon = find_addon(c, &addon)?;
                if addon.state != "provisioned" {
                    return Err(Error::Unprocessable(format!(
                        "add-on {} is {}",
                        addon.name, addon.state
                    )));
                }
                let metadata = Instance::find(c, &addon.id)?
                    .and_then(|i| catalog.provider(&i.service_id).map(|p| p.service().metadata.clone()));
                let attachable = requires(&metadata).is_none_or(|r| r.contains(&"attachable".to_string()));
                if !attachable && a.id != addon.app_id {
                    return Err(Error::Unprocessable(format!(
                        "add-on {} cannot be attached to other apps: its provider does not allow it (no attachable)",
                        addon.name
                    )));
                }
                let name = name
                    .clone()
                    .unwrap_or_else(|| default_attachment_name(&addon.service, metadata.as_ref()));
                let taken = attachments_of_app(c, &a.id)?.iter().any(|x| x.name == name);
                if taken {
                    return Err(Error::Conflict(format!(
                        "attachment name {name} is already used in app {}",
                        a.name
                    )));
                }
                let att =
                    insert_pending_attachment(c, uuid::Uuid::new_v4().to_string(), &addon.id, &a.id, name, now_ms())?;
                audit(
                    c,
                    &actor2.meta(),
                    "platform.attachment.create",
                    format!("attachment/{}", att.id),
                    json!({ "addon": addon.name, "app": a.name, "name": att.name }),
                )?;
                Ok((addon, att))
            })
            .await?;
        let id = att.id.clone();
        self.attach(&addon_row, att, actor).await?;
        self.db
            .run(move |c| {
                let att = addon_attachments::table
                    .find(&id)
                    .select(Attachment::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| Error::NotFound("the attachment was removed meanwhile".into()))?;
                Self::attachment_view(c, &att)
            })
            .await
    }

    /// An app's attachments.
    pub async fn list_attachments(&self, app: String) -> Result<Vec<AttachmentView>> {
        self.db
            .run(move |c| {
                let a = find_app(c, &app)?;
                let mut list = attachments_of_app(c, &a.id)?;
                list.sort_by(|x, y| x.name.cmp(&y.name));
                list.iter().map(|x| Self::attachment_view(c, x)).collect()
            })
            .await
    }

    /// Detaches one attachment: unbinds it (its credentials stop working) and removes its vars.
    pub async fn delete_attachment(&self, id: String, actor: &Actor) -> Result<AttachmentView> {
        let att = {
            let id = id.clone();
            self.db
                .run(move |c| {
                    addon_attachments::table
                        .find(&id)
                        .select(Attachment::as_select())
                        .first(c)
                        .optional()?
                        .ok_or_else(|| Error::NotFound(format!("attachment {} does not exist", clip(&id))))
                })
                .await?
        };
        let view = {
            let att = att.clone();
            self.db.run(move |c| Self::attachment_view(c, &att)).await?
        };
        self.detach_group(vec![att], actor).await?;
        Ok(view)
    }

    /// The latest 10,000 audit entries, all or about one target (`app/<id>`, `instance/<id>` …).
    pub async fn audit_entries(&self, target: Option<String>) -> Result<Vec<AuditView>> {
        use crate::db::schema::audit_log;
        let rows: Vec<crate::db::models::AuditEntry> = self
            .db
            .run(move |c| {
                let mut q = audit_log::table.into_boxed();
                if let Some(t) = target {
                    q = q.filter(audit_log::target.eq(t));
                }
                Ok(q.order(audit_log::at.desc())
                    .limit(10_000)
                    .select(crate::db::models::AuditEntry::as_select())
                    .load(c)?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                at: chrono::DateTime::from_timestamp_millis(e.at)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .unwrap_or_default(),
                request_id: e.request_id,
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: serde_json::from_str(&e.detail).unwrap_or(Value::Null),
            })
            .collect())
    }

    /// Finishes what requests or a crashed broker left half-way: pending attachments of
    /// provisioned add-ons, failed provisions, detaching attachments, deprovisioning add-ons.
    pub async fn reconcile(&self) -> Result<()> {
        let actor = Actor {
            sub: "reconciler".into(),
            scope: Scope::Admin,
            request_id: "reconciler".into(),
        };
        let (advancing, detaching, destroying) = self
            .db
            .run(|c| {
                let pending: Vec<String> = addon_attachments::table
                    .filter(addon_attachments::state.eq("pending"))
                    .select(addon_attachments::addon_id)
                    .load(c)?;
                let mut advancing: Vec<String> = addons::table
                    .filter(addons::state.eq("provisioning"))
                    .select(addons::id)
                    .load(c)?;
                advancing.extend(pending);
                advancing.sort();
                advancing.dedup();
                let detaching: Vec<Attachment> = addon_attachments::table
                    .filter(addon_attachments::state.eq("detaching"))
                    .select(Attachment::as_select())
                    .load(c)?;
                let destroying: Vec<Addon> = addons::table
                    .filter(addons::state.eq("deprovisioning"))
                    .select(Addon::as_select())
                    .load(c)?;
                Ok((advancing, detaching, destroying))
            })
            .await?;
        for id in advancing {
            if let Err(e) = self.advance_addon(&id, &actor).await {
                tracing::warn!(addon = %id, error = %e, "advancing an add-on failed; will retry");
            }
        }
        for att in detaching {
            if let Err(e) = self.detach_group(vec![att.clone()], &actor).await {
                tracing::warn!(attachment = %att.id, error = %e, "detaching failed; will retry");
            }
        }
        for addon in destroying {
            let id = addon.id.clone();
            if let Err(e) = self.destroy_addon(addon, &actor).await {
                tracing::warn!(addon = %id, error = %e, "destroying an add-on failed; will retry");
            }
        }
        Ok(())
    }

    /// Runs [`Platform::reconcile`] every `interval` until `shutdown` resolves.
    pub async fn run_reconciler(self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.reconcile().await {
                tracing::warn!(error = %e, "reconciling the platform failed");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

fn find_release(c: &mut DbConnection, app: &str, id_or_version: &str) -> Result<(App, Release, i32)> {
    let a = find_app(c, app)?;
    let last = latest_release(c, &a.id)?.map_or(0, |r| r.version);
    let query = releases::table
        .filter(releases::app_id.eq(&a.id))
        .select(Release::as_select());
    let r = match id_or_version.trim_start_matches('v').parse::<i32>() {
        Ok(v) => query.filter(releases::version.eq(v)).first(c).optional()?,
        Err(_) => query.filter(releases::id.eq(id_or_version)).first(c).optional()?,
    };
    let r = r.ok_or_else(|| {
        Error::NotFound(format!(
            "release {} of app {} does not exist",
            clip(id_or_version),
            a.name
        ))
    })?;
    Ok((a, r, last))
}
