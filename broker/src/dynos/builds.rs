//! Builds and slugs: an uploaded archive unpacked into a slug, its release phase, the release
//! that runs it, and the collection of slug directories nobody needs.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::access::{app_for, Role};
use crate::catalog::clip;
use crate::db::models::{App, Build, Release, Slug, RELEASE_PENDING, RELEASE_SUCCEEDED};
use crate::db::now_ms;
use crate::error::{log_if_internal, Error, Result};
use crate::ids::AppId;
use crate::platform::{current_release, insert_release, iso, latest_release, open_config, Actor, IdRef, NameRef};
use crate::provisioning::audit;
use crate::slugs::{self as archive, ProcessTypes, Unpacked};
use crate::uploads::{self, Upload};

use super::build_output::BuildLog;
use super::formation::sync_formation;
use super::manager::Dynos;
use super::phases::{failure_reason, keeps_running, Phase};
use super::views::{BuildView, ReleaseRef, SlugView};

/// Age after which a slug directory without a slug row is removed.
const SLUG_GC_AGE: Duration = Duration::from_secs(600);

impl Dynos {
    /// Turns a `.tar.gz` of the app's source into a slug by running its buildpacks in a
    /// sandbox and, after the Procfile's `release` command (if any) succeeds, a release that
    /// runs it. A bad archive is a 400 and leaves nothing; a failing build or release phase
    /// makes a `failed` build and no release. With `wait`, it answers the finished build;
    /// without, the `pending` build at once, the rest going on in the background (its output
    /// is followed with [`Dynos::build_output`]). Either way the rest runs in a task of its
    /// own, so a client that goes away does not cut a build short.
    /// The archive is streamed to disk first (never held in memory), within
    /// `runtime.max_archive_bytes`, `upload_idle_timeout_ms` and `upload_timeout_ms`; it is read
    /// only once the caller may deploy the app, and removed whatever the build comes to.
    pub async fn build<S, E>(
        &self,
        app: String,
        body: S,
        declared: Option<u64>,
        actor: &Actor,
        wait: bool,
    ) -> Result<BuildView>
    where
        S: futures::Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let a = self.app_for(app, actor).await?;
        // Buildpacks run the app's own code: only ever in the dyno runtime's sandbox.
        self.runtime()?;
        let archive = uploads::receive(
            body,
            declared,
            &uploads::spool_dir(&self.inner.data_dir),
            self.upload_limits(),
        )
        .await?;
        let build_id = uuid::Uuid::new_v4().to_string();
        let work = self.inner.data_dir.join("builds").join(&build_id);
        let unpacked = match self.unpack(archive, work.clone()).await {
            Ok(u) => u,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&work);
                return Err(e);
            }
        };
        // Live before the row exists, so that no reader of a pending row misses its start.
        let log = self.build_log(&build_id);
        log.line(&format!(
            "-----> Unpacked the archive: {} ({})",
            human_size(unpacked.size),
            unpacked.checksum
        ));
        let build = match self.record_build(&a, &build_id, actor).await {
            Ok(b) => b,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&work);
                return Err(e);
            }
        };
        // The rest starts before anything else can fail, so a recorded build always finishes.
        let (me, actor, app, row) = (self.clone(), actor.clone(), a.clone(), build.clone());
        let task = tokio::spawn(async move {
            let done = me.complete_build(app, row, unpacked, &work, log, &actor).await;
            let _ = tokio::fs::remove_dir_all(&work).await;
            done
        });
        if !wait {
            let releases = self.release_ids(&a.id).await?;
            return Ok(build_view(&a, build, &releases));
        }
        task.await.map_err(|e| Error::internal("the build task", e))?
    }

    /// The rest of a build once its row is written: the buildpacks, the slug, the release
    /// phase, the verdict, the release.
    async fn complete_build(
        &self,
        a: App,
        build: Build,
        unpacked: Unpacked,
        work: &std::path::Path,
        log: BuildLog,
        actor: &Actor,
    ) -> Result<BuildView> {
        let compiled = match self.compile(&a, &build.id, work, &log).await {
            Ok(c) => c,
            Err(e) => {
                log_if_internal(&e, &actor.request_id);
                Err(e.public_message())
            }
        };
        let mut slug = None;
        let ok = match compiled {
            Err(why) => {
                if !why.is_empty() {
                    log.line(&format!("-----> Build failed: {why}"));
                }
                false
            }
            Ok(types) => match self.store_slug(&a, &build.id, work, &unpacked, &types).await {
                Err(e) => {
                    log_if_internal(&e, &actor.request_id);
                    log.line(&format!("-----> Build failed: {}", e.public_message()));
                    false
                }
                Ok(slug_id) => {
                    let ok = self.release_phase_of(&a, &slug_id, &types, &log, actor).await;
                    slug = Some((slug_id, types, unpacked.checksum.clone()));
                    ok
                }
            },
        };
        let id = build.id.clone();
        let done = self.finish_build(&a, build.id, ok, &log, slug, actor).await;
        let done = match done {
            Ok(done) => done,
            Err(e) => {
                // Not left pending (its readers would wait for it): failed, with the reason.
                log.line(&format!("-----> Build failed: {}", e.public_message()));
                let output = log.text();
                let _ = self
                    .inner
                    .db
                    .write(move |c| {
                        let mut b = Build::get(c, &id)?;
                        if b.status == "pending" {
                            (b.status, b.output, b.updated_at) = ("failed".into(), output.clone(), now_ms());
                            b.save(c)?;
                        }
                        Ok(())
                    })
                    .await;
                return Err(e);
            }
        };
        log.finish();
        self.inner.wake.notify_one();
        let releases = self.release_ids(&a.id).await?;
        Ok(build_view(&a, done, &releases))
    }

    /// Runs the slug's release phase, if it has one; true when there is none or it passed.
    async fn release_phase_of(
        &self,
        a: &App,
        slug_id: &str,
        types: &ProcessTypes,
        log: &BuildLog,
        actor: &Actor,
    ) -> bool {
        let Some(command) = types.get("release") else {
            return true;
        };
        match self.release_phase(a, slug_id, command, log).await {
            Ok(ok) => ok,
            // The build is recorded as failed rather than left pending.
            Err(e) => {
                log_if_internal(&e, &actor.request_id);
                log.line(&format!(
                    "-----> Build failed: the release phase could not run: {}",
                    e.public_message()
                ));
                false
            }
        }
    }

    /// Unpacks an archive into `work/app` (off the async threads).
    fn upload_limits(&self) -> uploads::Limits {
        let s = &self.inner.settings;
        uploads::Limits {
            max_bytes: s.max_archive_bytes as u64,
            idle: Duration::from_millis(s.upload_idle_timeout_ms.max(1)),
            total: Duration::from_millis(s.upload_timeout_ms.max(1)),
        }
    }

    async fn unpack(&self, archive: Upload, work: PathBuf) -> Result<Unpacked> {
        std::fs::create_dir_all(&work).map_err(|e| Error::internal(format!("creating {}", work.display()), e))?;
        // The unprivileged build user must reach `work/app` (not list `work`).
        std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o711))
            .map_err(|e| Error::internal(format!("setting the mode of {}", work.display()), e))?;
        let max = self.inner.settings.max_slug_bytes;
        tokio::task::spawn_blocking(move || archive::unpack(&archive, &work.join("app"), max))
            .await
            .map_err(|e| Error::internal("unpacking", e))?
    }

    /// Moves the compiled app into the slugs and writes its row, naming it in the build.
    async fn store_slug(
        &self,
        a: &App,
        build_id: &str,
        work: &std::path::Path,
        unpacked: &Unpacked,
        types: &ProcessTypes,
    ) -> Result<String> {
        let slug_id = uuid::Uuid::new_v4().to_string();
        let dir = &self.inner.slugs_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::internal(format!("creating {}", dir.display()), e))?;
        let dest = dir.join(&slug_id);
        let size = archive::tree_size(&work.join("app"));
        std::fs::rename(work.join("app"), &dest).map_err(|e| Error::internal("moving the slug into place", e))?;
        let slug = Slug {
            id: slug_id.clone(),
            app_id: a.id.clone(),
            process_types: json!(types).to_string(),
            size: size as i64,
            checksum: unpacked.checksum.clone(),
            created_at: now_ms(),
        };
        let build_id = build_id.to_string();
        let stored = self
            .inner
            .db
            .write(move |c| {
                App::get(c, &slug.app_id)?
                    .ok_or_else(|| Error::NotFound("the app was deleted during the build".into()))?;
                Slug::insert(c, &slug)?;
                let mut b = Build::get(c, &build_id)?;
                b.slug_id = Some(slug.id.clone());
                b.save(c)
            })
            .await;
        if let Err(e) = stored {
            let _ = std::fs::remove_dir_all(&dest);
            return Err(e);
        }
        Ok(slug_id)
    }

    /// Writes a `pending` build.
    async fn record_build(&self, a: &App, build_id: &str, actor: &Actor) -> Result<Build> {
        let now = now_ms();
        let build = Build {
            id: build_id.to_string(),
            app_id: a.id.clone(),
            status: "pending".into(),
            slug_id: None,
            release_version: None,
            output: String::new(),
            created_by: Some(actor.sub.clone()),
            created_at: now,
            updated_at: now,
            runner: Some(self.inner.supervisor.clone()),
        };
        let (meta, app_id, written, actor) = (actor.meta(), a.id.clone(), build.clone(), actor.clone());
        self.inner
            .db
            .write(move |c| {
                // The app may have been deleted while the archive unpacked, or the caller's
                // access to it taken away.
                App::get(c, &app_id)?.ok_or_else(|| Error::NotFound("the app was deleted during the build".into()))?;
                app_for(c, &app_id, &actor, Role::Collaborator)?;
                Build::insert(c, &written)?;
                audit(
                    c,
                    &meta,
                    "platform.build.create",
                    format!("app/{app_id}"),
                    json!({ "build": written.id }),
                )
            })
            .await?;
        Ok(build)
    }

    /// Records the build's outcome and, when it succeeded, the release that runs its slug with
    /// the current config (the formation follows the slug's process types).
    async fn finish_build(
        &self,
        a: &App,
        build_id: String,
        ok: bool,
        log: &BuildLog,
        slug: Option<(String, ProcessTypes, String)>,
        actor: &Actor,
    ) -> Result<Build> {
        let (sealer, actor, app_id) = (self.inner.sealer.clone(), actor.clone(), a.id.clone());
        let output = log.text();
        let b = self
            .inner
            .db
            .write(move |c| {
                let mut b = Build::get(c, &build_id)?;
                b.output = output.clone();
                b.updated_at = now_ms();
                if let (true, Some((slug_id, types, checksum))) = (ok, &slug) {
                    let config = latest_release(c, &app_id)?
                        .map(|r| open_config(&sealer, &r))
                        .transpose()?
                        .unwrap_or_default();
                    let short: String = checksum.trim_start_matches("SHA256:").chars().take(7).collect();
                    let r = insert_release(
                        c,
                        &sealer,
                        &app_id,
                        format!("Deploy {short}"),
                        &config,
                        &actor,
                        Some(slug_id.clone()),
                    )?;
                    // Its release phase has just passed: it is not left for the dyno manager.
                    if r.status == RELEASE_PENDING {
                        Release::finish_pending(c, &r.id, RELEASE_SUCCEEDED)?;
                    }
                    sync_formation(c, &app_id, types)?;
                    b.status = "succeeded".into();
                    b.release_version = Some(r.version);
                    b.output.push_str(&released(r.version));
                } else {
                    b.status = "failed".into();
                }
                b.save(c)?;
                Ok(b)
            })
            .await?;
        // The live output ends as the row does.
        if let Some(v) = b.release_version {
            log.write(&released(v));
        }
        Ok(b)
    }

    /// Runs the release phase of a new slug with the current config, its output going to the
    /// build's output as it comes; true when it passed. The output ends with the verdict, which
    /// says what keeps running when it failed.
    async fn release_phase(&self, a: &App, slug_id: &str, command: &str, log: &BuildLog) -> Result<bool> {
        self.runtime()?;
        let (sealer, app_id) = (self.inner.sealer.clone(), a.id.clone());
        let (version, config, current) = self
            .inner
            .db
            .run(move |c| {
                let r = latest_release(c, &app_id)?;
                let version = r.as_ref().map_or(0, |r| r.version) + 1;
                let current = current_release(c, &app_id)?.filter(|r| r.slug_id.is_some());
                Ok((
                    version,
                    r.map(|r| open_config(&sealer, &r)).transpose()?.unwrap_or_default(),
                    current.map(|r| r.version),
                ))
            })
            .await?;
        log.line(&format!("-----> Running the release phase: {command}"));
        let phase = Phase {
            app_id: &a.id,
            version,
            release_id: None,
            slug_id,
            command,
            config,
        };
        let outcome = self.run_phase(phase, None, Some(log)).await?;
        if !outcome.output.is_empty() && !outcome.output.ends_with('\n') {
            log.write("\n");
        }
        let verdict = if outcome.ok {
            "Release phase succeeded".to_string()
        } else {
            format!(
                "Release phase {}; no release was made and {}",
                failure_reason(false, outcome.exit.as_ref()),
                keeps_running(current)
            )
        };
        self.log(&a.id, "broker", &format!("release.{version}"), verdict.clone());
        if outcome.ok {
            log.line(&verdict);
        } else {
            log.line(&format!("-----> Build failed: {verdict}"));
        }
        Ok(outcome.ok)
    }

    /// An app's builds, oldest first (their output can show what the release phase printed:
    /// the app's owner and admins only).
    pub async fn builds(&self, app: String, actor: &Actor) -> Result<Vec<BuildView>> {
        let actor = actor.clone();
        let (a, list) = self
            .inner
            .db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let list = Build::of_app(c, &a.id)?;
                Ok((a, list))
            })
            .await?;
        let releases = self.release_ids(&a.id).await?;
        Ok(list.into_iter().map(|b| build_view(&a, b, &releases)).collect())
    }

    /// One build (the app's owner and admins only).
    pub async fn get_build(&self, app: String, id: String, actor: &Actor) -> Result<BuildView> {
        let actor = actor.clone();
        let (a, b) = self
            .inner
            .db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                let b = Build::find_of_app(c, &AppId::from(a.id.as_str()), &id)?
                    .ok_or_else(|| Error::NotFound(format!("build {} does not exist", clip(&id))))?;
                Ok((a, b))
            })
            .await?;
        let releases = self.release_ids(&a.id).await?;
        Ok(build_view(&a, b, &releases))
    }

    /// One slug.
    pub async fn slug(&self, app: String, id: String, actor: &Actor) -> Result<SlugView> {
        let actor = actor.clone();
        let s = self
            .inner
            .db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                Slug::find_of_app(c, &AppId::from(a.id.as_str()), &id)?
                    .ok_or_else(|| Error::NotFound(format!("slug {} does not exist", clip(&id))))
            })
            .await?;
        Ok(SlugView {
            process_types: s.commands(),
            id: s.id,
            size: s.size,
            checksum: s.checksum,
            created_at: iso(s.created_at),
        })
    }

    /// Release ids of an app by version (views show `{id, version}` as Heroku does).
    pub(super) async fn release_ids(&self, app_id: &str) -> Result<HashMap<i32, String>> {
        let app_id = app_id.to_string();
        self.inner
            .db
            .run(move |c| Ok(Release::ids_by_version(c, &app_id)?.into_iter().collect()))
            .await
    }

    /// Removes build caches and work directories nobody needs (`collect_build_dirs`), slug
    /// directories that no slug row names (their app was deleted) and unpacks
    /// that never finished, once they are `SLUG_GC_AGE` old (so that a build unpacking right
    /// now, whose row is not written yet, is left alone). Returns how many went.
    pub async fn collect_slugs(&self) -> Result<usize> {
        let builds = self.collect_build_dirs().await?;
        let known: HashSet<String> = self.inner.db.run(Slug::all_ids).await?.into_iter().collect();
        let dir = self.inner.slugs_dir.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return 0;
            };
            let mut removed = 0;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= SLUG_GC_AGE);
                if old && !known.contains(&name) && std::fs::remove_dir_all(entry.path()).is_ok() {
                    removed += 1;
                }
            }
            removed
        })
        .await
        .map(|slugs| slugs + builds)
        .map_err(|e| Error::internal("collecting slugs", e))
    }

    /// Marks builds left `pending` by a broker that died as failed.
    pub async fn fail_interrupted_builds(&self) -> Result<usize> {
        let node = crate::node::node_of(&self.inner.supervisor).to_string();
        self.inner
            .db
            .write(move |c| {
                Build::fail_pending(
                    c,
                    &node,
                    "-----> Build failed: the broker stopped during the build; push again\n",
                    now_ms(),
                )
            })
            .await
    }
}

/// The last line of a build that made release `version`.
fn released(version: i32) -> String {
    format!("-----> Released v{version}\n")
}

/// `12.3 KiB`.
pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// A build as the API shows it.
fn build_view(a: &App, b: Build, releases: &HashMap<i32, String>) -> BuildView {
    let release = b.release_version.map(|v| ReleaseRef {
        id: releases.get(&v).cloned(),
        version: v,
    });
    BuildView {
        id: b.id,
        status: b.status,
        slug: b.slug_id.map(|id| IdRef { id }),
        release,
        output: b.output,
        output_stream_url: String::new(),
        app: NameRef {
            id: a.id.clone(),
            name: a.name.clone(),
        },
        created_at: iso(b.created_at),
        updated_at: iso(b.updated_at),
    }
}
