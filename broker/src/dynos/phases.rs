//! The release phase: the Procfile's `release` command, run in a one-off container on a
//! release's code with that release's config before the dynos move onto it. A build runs it
//! before it writes its release; every other new release (config change, rollback, add-on
//! attached or detached) is written `pending` and run here, then marked `succeeded` (the dynos
//! roll onto it) or `failed` (they stay where they are). A broker that restarts finds the
//! `pending` rows again and adopts the container of a phase that was running.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use runtime::{ContainerStatus, Exit};
use tracing::warn;

use crate::db::models::{Release, Slug, RELEASE_FAILED, RELEASE_SUCCEEDED};
use crate::error::{Error, Result};
use crate::ids::AppId;
use crate::platform::{current_release, open_config};

use super::build_output::BuildLog;
use super::containers::{exit_of, label, runtime_err};
use super::launch::{Launch, MAX_OUTPUT, SIZES};
use super::manager::Dynos;

/// The container label naming the pending release a release phase runs for.
const PHASE_OF: &str = "phase_of";

/// One run of a release phase.
pub(super) struct Phase<'a> {
    /// The app.
    pub(super) app_id: &'a str,
    /// The version of the release it precedes (the container is `release.<version>`).
    pub(super) version: i32,
    /// The id of that release, once written (a build runs the phase before writing it).
    pub(super) release_id: Option<&'a str>,
    /// The code it runs on.
    pub(super) slug_id: &'a str,
    /// The `release` command.
    pub(super) command: &'a str,
    /// The new release's config vars.
    pub(super) config: BTreeMap<String, String>,
}

/// How a release phase ended.
pub(super) struct PhaseOutcome {
    /// Exit status 0.
    pub(super) ok: bool,
    /// What it printed (the first MiB).
    pub(super) output: String,
    /// Its exit (`None` when the runtime lost it).
    pub(super) exit: Option<Exit>,
}

impl Dynos {
    /// Runs a release phase (or waits for `adopt`, one a previous broker started) until it ends
    /// or times out; its output goes to `live` as it comes, if given, and to the app's log as
    /// `app[release.N]` lines.
    pub(super) async fn run_phase(
        &self,
        p: Phase<'_>,
        adopt: Option<ContainerStatus>,
        live: Option<&BuildLog>,
    ) -> Result<PhaseOutcome> {
        let rt = self.runtime()?.clone();
        let name = format!("release.{}", p.version);
        let timeout = Duration::from_millis(self.inner.settings.release_phase_timeout_ms);
        let (id, deadline) = match adopt {
            Some(c) => {
                // Its deadline counts from when it started, not from when this broker saw it.
                let ran = u64::try_from(crate::db::now_ms() - c.started_at_ms).unwrap_or(0);
                let left = timeout.saturating_sub(Duration::from_millis(ran));
                (c.id, Instant::now() + left)
            }
            None => {
                let labels = p.release_id.map(|r| (PHASE_OF, r));
                let status = self
                    .launch(Launch {
                        app_id: &AppId::from(p.app_id),
                        name: &name,
                        kind: "release",
                        process_type: "release",
                        release: p.version,
                        size: SIZES[0],
                        command: p.command,
                        slug_id: p.slug_id,
                        config: p.config,
                        port: None,
                        ttl_ms: None,
                        extra_label: labels,
                        io: runtime::ContainerIo::Logged,
                    })
                    .await?;
                (status.id, Instant::now() + timeout)
            }
        };
        let ended = match live {
            Some(log) => self.follow_exit(&id, deadline, log).await,
            None => self.wait_for_exit(&id, deadline).await,
        };
        let out = rt.output(&id, 0, MAX_OUTPUT).await.map_err(runtime_err);
        // The container goes whatever happened; one left behind by an error here is collected
        // by the supervision loop.
        let _ = rt.remove(&id).await;
        let (ended, out) = (ended?, out?);
        let exit = exit_of(&ended).cloned();
        let output = String::from_utf8_lossy(&out.bytes).into_owned();
        if let Some(log) = live {
            // What came after the last read (the container has ended: nothing more comes).
            let shown = log.phase_bytes();
            if let Some(rest) = out.bytes.get(shown..) {
                log.write(&String::from_utf8_lossy(rest));
            }
        }
        for line in output.lines() {
            self.log(p.app_id, "app", &name, line.to_string());
        }
        let ok = exit.as_ref().is_some_and(|e| e.code == Some(0));
        Ok(PhaseOutcome { ok, output, exit })
    }

    /// Waits for a container to end like `wait_for_exit`, copying its output to `log` as it
    /// comes (up to `MAX_OUTPUT` bytes).
    pub(super) async fn follow_exit(&self, id: &str, deadline: Instant, log: &BuildLog) -> Result<ContainerStatus> {
        let rt = self.runtime()?;
        log.start_phase();
        let mut offset = 0u64;
        // Bytes of a UTF-8 character cut by a read wait for the next one.
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let s = rt.status(id).await.map_err(runtime_err)?;
            let max = MAX_OUTPUT.saturating_sub(offset as usize);
            if max > 0 {
                let out = rt.output(id, offset, max).await.map_err(runtime_err)?;
                offset = out.next_offset;
                partial.extend_from_slice(&out.bytes);
                let valid = match std::str::from_utf8(&partial) {
                    Ok(_) => partial.len(),
                    Err(e) if e.error_len().is_none() => e.valid_up_to(),
                    Err(_) => partial.len(),
                };
                let text: Vec<u8> = partial.drain(..valid).collect();
                log.phase_output(&String::from_utf8_lossy(&text), text.len());
            }
            if !s.running() {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return rt.stop(id, self.grace()).await.map_err(runtime_err);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the release phase of each app's oldest `pending` release, one per app at a time
    /// (a later release waits for the earlier one's verdict).
    pub(super) async fn start_release_phases(&self) -> Result<()> {
        let pending = self.inner.db.run(Release::pending).await?;
        let mut seen = HashSet::new();
        for r in pending {
            if !seen.insert(r.app_id.clone()) {
                continue;
            }
            let claimed = self
                .inner
                .phases
                .lock()
                .map(|mut busy| busy.insert(r.app_id.clone()))
                .unwrap_or(false);
            if !claimed {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                let app_id = r.app_id.clone();
                if let Err(e) = me.run_pending(r).await {
                    warn!(app = %app_id, error = %e.chain(), "release phase");
                }
                if let Ok(mut busy) = me.inner.phases.lock() {
                    busy.remove(&app_id);
                }
                me.inner.wake.notify_one();
            });
        }
        Ok(())
    }

    /// Runs the release phase of a `pending` release and records its verdict.
    async fn run_pending(&self, r: Release) -> Result<()> {
        // The list that named it may predate the end of this app's previous phase (its claim
        // is released only after its verdict is written): ask again now that this one holds it.
        let id = r.id.clone();
        if !self.inner.db.run(move |c| Release::is_pending(c, &id)).await? {
            return Ok(());
        }
        let name = format!("release.{}", r.version);
        let (sealer, sid) = (self.inner.sealer.clone(), r.slug_id.clone().unwrap_or_default());
        let (command, config) = {
            let r = r.clone();
            self.inner
                .db
                .run(move |c| {
                    let types = Slug::find(c, &sid)?.map(|s| s.commands()).unwrap_or_default();
                    Ok((types.get("release").cloned(), open_config(&sealer, &r)?))
                })
                .await?
        };
        let outcome = match command {
            // Its code has no release phase after all (a slug row cannot change; defensive).
            None => Ok(PhaseOutcome {
                ok: true,
                output: String::new(),
                exit: None,
            }),
            Some(command) => {
                let adopt = self.adoptable(&r).await?;
                let phase = Phase {
                    app_id: &r.app_id,
                    version: r.version,
                    release_id: Some(&r.id),
                    slug_id: r.slug_id.as_deref().unwrap_or_default(),
                    command: &command,
                    config,
                };
                self.run_phase(phase, adopt, None).await
            }
        };
        let (ok, why) = match outcome {
            Ok(o) => (o.ok, failure_reason(o.ok, o.exit.as_ref())),
            // A phase that cannot start (no slug directory, a runtime error) fails the release
            // rather than being retried every tick.
            Err(e) if !matches!(e, Error::Db(_)) => (false, format!("could not run: {}", e.public_message())),
            Err(e) => return Err(e),
        };
        let (id, app_id) = (r.id.clone(), r.app_id.clone());
        let status = if ok { RELEASE_SUCCEEDED } else { RELEASE_FAILED };
        let (marked, current) = self
            .inner
            .db
            .write(move |c| {
                let marked = Release::finish_pending(c, &id, status)?;
                let current = current_release(c, &app_id)?.filter(|r| r.slug_id.is_some());
                Ok((marked, current.map(|r| r.version)))
            })
            .await?;
        if !marked {
            return Ok(());
        }
        let verdict = if ok {
            format!("Release phase succeeded; v{} is released", r.version)
        } else {
            format!(
                "Release phase {why}; v{} is marked failed and {}",
                r.version,
                keeps_running(current)
            )
        };
        self.log(&r.app_id, "broker", &name, verdict);
        self.inner.wake.notify_one();
        Ok(())
    }

    /// The release-phase container a previous broker started for `r`, if it is still there.
    async fn adoptable(&self, r: &Release) -> Result<Option<ContainerStatus>> {
        let list = self.runtime()?.list().await.map_err(runtime_err)?;
        Ok(list
            .into_iter()
            .filter(|c| label(c, "app") == r.app_id && label(c, "kind") == "release")
            .filter(|c| label(c, PHASE_OF) == r.id)
            .max_by_key(|c| c.started_at_ms))
    }
}

/// How a release phase failed (`failed (exit status 3)`, `timed out`); empty when it passed.
pub(super) fn failure_reason(ok: bool, exit: Option<&Exit>) -> String {
    match exit {
        _ if ok => String::new(),
        Some(e) if !e.stopped => format!(
            "failed (exit status {})",
            e.code.map_or("killed".into(), |c| c.to_string())
        ),
        Some(_) => "timed out".into(),
        None => "failed (the runtime lost its exit status)".into(),
    }
}

/// What keeps running after a release phase failed: the current release, if one has code;
/// otherwise nothing, and the message must not claim otherwise.
pub(super) fn keeps_running(current: Option<i32>) -> String {
    match current {
        Some(v) => format!("the previous release (v{v}) keeps running"),
        None => "no release runs: the app has none that passed its release phase yet".into(),
    }
}
