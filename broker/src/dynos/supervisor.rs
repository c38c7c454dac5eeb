//! The supervision loop: every tick it reads the desired state from the store and what runs
//! from the runtime, marks dynos up (or crashed on a boot timeout), lets [`plan`] decide, and
//! performs the actions; between ticks it collects slug directories nobody needs.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use runtime::ContainerStatus;
use tracing::{info, warn};

use crate::db::models::{App, Formation, Slug};
use crate::db::now_ms;
use crate::error::{FilterOutage, Result};
use crate::ids::AppId;
use crate::platform::{current_release, open_config};
use crate::slugs::ProcessTypes;

use super::containers::{label, port_of, release_of, runtime_err};
use super::launch::{free_port, size, Launch};
use super::lease::LeaseClock;
use super::manager::Dynos;
use super::plan::{backoff, crashed, plan, sweep, Action, Desired, Now, SlotSpec, Supervision};

/// How often slug directories are collected.
const SLUG_GC_EVERY: Duration = Duration::from_secs(600);

impl Dynos {
    /// Runs the supervision loop until `shutdown` resolves; then, with
    /// `runtime.stop_on_shutdown`, stops every dyno.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        if self.inner.runtime.is_none() {
            shutdown.await;
            return;
        }
        match self.fail_interrupted_builds().await {
            Ok(n) if n > 0 => info!(builds = n, "marked builds interrupted by a restart as failed"),
            Ok(_) => {}
            Err(e) => warn!(error = %e.chain(), "checking interrupted builds"),
        }
        let every = Duration::from_millis(self.inner.settings.tick_ms.max(10));
        tokio::pin!(shutdown);
        let mut next_gc = Instant::now();
        let mut lease = LeaseClock::default();
        loop {
            if !self.lease_round(&mut lease).await {
                // Another replica supervises: look again when its lease may have lapsed.
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(every.max(Duration::from_millis(200))) => {}
                }
                continue;
            }
            if Instant::now() >= next_gc {
                next_gc = Instant::now() + SLUG_GC_EVERY;
                match self.collect_slugs().await {
                    Ok(n) if n > 0 => info!(slugs = n, "removed slug directories of deleted apps"),
                    Ok(_) => {}
                    Err(e) if !e.is_outage() => warn!(error = %e.chain(), "collecting slugs"),
                    Err(_) => {}
                }
            }
            if let Err(e) = self.start_release_phases().await.filter_outage() {
                warn!(error = %e.chain(), "starting release phases");
            }
            if let Err(e) = self.tick().await.filter_outage() {
                warn!(error = %e.chain(), "dyno supervision");
            }
            let next = {
                let mut sup = self.inner.supervision.lock().await;
                let due = sup
                    .wake_at
                    .take()
                    .map_or(every, |t| t.saturating_duration_since(Instant::now()));
                due.min(every)
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(next) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
        if self.inner.settings.stop_on_shutdown && self.is_supervisor() {
            self.stop_everything().await;
        }
        self.release_lease().await;
    }

    /// Stops every container of this runtime (for `broker dev` and tests).
    pub async fn stop_everything(&self) {
        let Ok(rt) = self.runtime() else { return };
        let Ok(list) = rt.list().await else { return };
        let grace = self.grace();
        let stops = list.iter().filter(|c| c.running()).map(|c| rt.stop(&c.id, grace));
        futures::future::join_all(stops).await;
    }

    /// One comparison of what runs with what should, and the actions it calls for.
    pub async fn tick(&self) -> Result<()> {
        let rt = self.runtime()?.clone();
        let list = rt.list().await.map_err(runtime_err)?;
        let desired = self
            .load_desired(list.iter().map(|c| label(c, "app").to_string()).collect())
            .await?;
        let mut sup = self.inner.supervision.lock().await;
        // Containers may have changed while the store was read; decide on a fresh list.
        let list = rt.list().await.map_err(runtime_err)?;
        self.collect_logs(&mut sup, &list).await;
        self.check_up(&mut sup, &list).await;
        // New dynos join the router before the plan stops the ones they replace.
        self.publish_routes(&sup, &desired, &list);
        let settings = &self.inner.settings;
        let known: HashSet<&str> = desired.iter().map(|d| d.app.id.as_str()).collect();
        let mut remove: Vec<String> = Vec::new();
        // Containers of deleted apps, expired one-offs, and old one-offs.
        let swept = sweep(&list, &known, &sup, settings, now());
        self.apply(&mut sup, None, swept, &mut remove).await;
        // App by app, so that each plan sees what the previous ones did.
        for d in &desired {
            let actions = plan(d, &list, &sup, settings, now());
            self.apply(&mut sup, Some(d), actions, &mut remove).await;
        }
        for id in remove {
            let _ = rt.remove(&id).await;
            sup.up.remove(&id);
            sup.endpoints.remove(&id);
            sup.crash_counted.remove(&id);
            sup.first_seen.remove(&id);
        }
        self.publish_routes(&sup, &desired, &list);
        Ok(())
    }

    /// Performs a plan's actions for the app `d` (`None` for the sweep, which only stops and
    /// removes); removals are collected in `remove`, for the end of the tick.
    async fn apply(&self, sup: &mut Supervision, d: Option<&Desired>, actions: Vec<Action>, remove: &mut Vec<String>) {
        let app_id = d.map_or("", |d| d.app.id.as_str());
        for action in actions {
            match action {
                Action::Stop { id, app_id, dyno, why } => self.stop_container(sup, &id, &app_id, &dyno, why),
                Action::Remove(id) => remove.push(id),
                Action::SetSlot(dyno, slot) => {
                    sup.slots.insert((app_id.to_string(), dyno), slot);
                }
                Action::Crash {
                    id,
                    dyno,
                    why,
                    slot,
                    delay,
                } => {
                    sup.crash_counted.insert(id);
                    self.log(app_id, "broker", &dyno, why);
                    self.record_crash(sup, app_id, &dyno, slot, delay);
                }
                Action::Start(spec, retire) => {
                    let Some(d) = d else { continue };
                    if let Err(e) = self.start_slot(sup, d, &spec).await {
                        warn!(app = %app_id, dyno = %spec.name, error = %e.chain(), "starting a dyno failed");
                        let text = format!("Starting failed: {}", e.public_message());
                        self.log(app_id, "broker", &spec.name, text);
                        let slot = sup.slots.entry((app_id.to_string(), spec.name)).or_default();
                        slot.not_before = Some(Instant::now() + backoff(&self.inner.settings, slot.crashes.max(1)));
                    } else {
                        remove.extend(retire);
                    }
                }
                Action::Replace(spec) => {
                    let Some(d) = d else { continue };
                    if let Err(e) = self.start_slot(sup, d, &spec).await {
                        warn!(app = %app_id, dyno = %spec.name, error = %e.chain(), "starting a replacement failed");
                    }
                }
                Action::WakeAt(at) => sup.wake_by(at),
            }
        }
    }

    /// Records a slot's crash and logs when it restarts.
    fn record_crash(
        &self,
        sup: &mut Supervision,
        app_id: &str,
        name: &str,
        slot: super::plan::SlotState,
        delay: Duration,
    ) {
        let crashes = slot.crashes;
        sup.slots.insert((app_id.to_string(), name.to_string()), slot);
        self.log(
            app_id,
            "broker",
            name,
            format!(
                "State changed to crashed; restart {crashes} in {} ms",
                delay.as_millis()
            ),
        );
    }

    /// The desired state of the apps that have a formation or containers (others need no
    /// supervision, which keeps a tick cheap on a broker with many add-on-only apps).
    async fn load_desired(&self, container_apps: HashSet<String>) -> Result<Vec<Desired>> {
        let cached: HashMap<String, ProcessTypes> = self.inner.slug_types.lock().map(|m| m.clone()).unwrap_or_default();
        let (desired, new_types) = self
            .inner
            .db
            .run(move |c| {
                let rows = Formation::all(c)?;
                let mut ids = container_apps;
                ids.extend(rows.iter().map(|f| f.app_id.clone()));
                let all = App::with_ids(c, ids.into_iter().collect())?;
                let mut by_app: HashMap<String, Vec<Formation>> = HashMap::new();
                for f in rows {
                    by_app.entry(f.app_id.clone()).or_default().push(f);
                }
                let mut out = Vec::new();
                let mut new_types = HashMap::new();
                for app in all {
                    let formation = by_app.remove(&app.id).unwrap_or_default();
                    // Only a release that passed its release phase (or needs none) runs.
                    let release = match current_release(c, &app.id)? {
                        Some(r) if r.slug_id.is_some() => {
                            let sid = r.slug_id.clone().unwrap_or_default();
                            let types = match cached.get(&sid) {
                                Some(t) => t.clone(),
                                None => {
                                    let t = Slug::find(c, &sid)?.map(|s| s.commands()).unwrap_or_default();
                                    new_types.insert(sid, t.clone());
                                    t
                                }
                            };
                            Some((r, types))
                        }
                        _ => None,
                    };
                    out.push(Desired {
                        app,
                        release,
                        formation,
                    });
                }
                Ok((out, new_types))
            })
            .await?;
        if let Ok(mut m) = self.inner.slug_types.lock() {
            m.extend(new_types);
        }
        Ok(desired)
    }

    /// Starts a formation dyno of the app's current release.
    async fn start_slot(&self, sup: &mut Supervision, d: &Desired, spec: &SlotSpec) -> Result<()> {
        let Some((r, _)) = &d.release else { return Ok(()) };
        let port = (spec.process_type == "web").then(free_port).transpose()?;
        let status = self
            .launch(Launch {
                app_id: &AppId::from(d.app.id.as_str()),
                name: &spec.name,
                kind: "formation",
                process_type: &spec.process_type,
                release: r.version,
                size: size(&spec.size)?,
                command: &spec.command,
                slug_id: r.slug_id.as_deref().unwrap_or_default(),
                config: open_config(&self.inner.sealer, r)?,
                port,
                ttl_ms: None,
                extra_label: None,
                io: runtime::ContainerIo::Logged,
            })
            .await?;
        if let Some(p) = port {
            self.watch_port(status.id.clone(), p);
        }
        sup.offsets.insert(status.id, (0, Vec::new()));
        Ok(())
    }

    /// Wakes the supervisor as soon as a new web dyno listens on its port, so that a rollout
    /// moves on without waiting for the next tick.
    fn watch_port(&self, id: String, port: u16) {
        let me = self.clone();
        let until = Instant::now() + Duration::from_millis(me.inner.settings.boot_timeout_ms);
        tokio::spawn(async move {
            let Ok(rt) = me.runtime() else {
                return;
            };
            while Instant::now() < until {
                if rt.listening(&id, port).await {
                    me.inner.wake.notify_one();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }

    /// Marks running containers `up`: web dynos once they listen on `$PORT`, others at
    /// once; web dynos that miss the boot timeout are stopped as crashed (Heroku's R10).
    async fn check_up(&self, sup: &mut Supervision, list: &[ContainerStatus]) {
        let boot = self.inner.settings.boot_timeout_ms as i64;
        let pending: Vec<&ContainerStatus> = list
            .iter()
            .filter(|c| c.running() && !sup.up.contains_key(&c.id))
            .collect();
        for c in pending {
            let up = match (port_of(c), self.runtime()) {
                (None, _) => true,
                (Some(p), Ok(rt)) if rt.listening(&c.id, p).await => {
                    sup.endpoints.insert(c.id.clone(), rt.endpoint(&c.id, p).await);
                    true
                }
                (Some(_), _) => false,
            };
            let (app_id, name) = (label(c, "app"), label(c, "dyno"));
            if up {
                sup.up.insert(c.id.clone(), now_ms());
                self.log(app_id, "broker", name, "State changed from starting to up".into());
            } else if now_ms()
                - c.started_at_ms
                    .max(*sup.first_seen.entry(c.id.clone()).or_insert_with(now_ms))
                > boot
                && !sup.stopping.contains(&c.id)
            {
                self.log(
                    app_id,
                    "broker",
                    name,
                    format!(
                        "Error R10 (Boot timeout): web process failed to bind to $PORT within {} ms",
                        boot
                    ),
                );
                sup.crash_counted.insert(c.id.clone());
                let key = (app_id.to_string(), name.to_string());
                let (slot, delay) = crashed(
                    &self.inner.settings,
                    sup.slots.get(&key),
                    release_of(c),
                    0,
                    Instant::now(),
                );
                self.record_crash(sup, app_id, name, slot, delay);
                self.stop_in_background(sup, c, "boot timeout");
            }
        }
    }
}

/// The moment, on both clocks.
fn now() -> Now {
    Now {
        ms: now_ms(),
        at: Instant::now(),
    }
}
