//! The supervisor's decisions, without I/O: what it remembers between ticks ([`Supervision`]),
//! what an app should run ([`Desired`]), and [`plan`], which compares the two with what the
//! runtime lists and returns the [`Action`]s that the supervisor's `apply` then performs. Every
//! clock reading comes in as [`Now`], so that the rules can be tested without a runtime.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use runtime::{ContainerStatus, Endpoint};

use crate::config::RuntimeSettings;
use crate::db::models::{App, Formation, Release};
use crate::slugs::ProcessTypes;

use super::containers::{dyno_order, exit_of, label, release_of};

/// A formation slot's (`web.1`'s) crash record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SlotState {
    /// Crashes since `release` (or since the dyno last ran longer than the longest delay).
    pub(super) crashes: u32,
    /// No start before this moment (the crash backoff).
    pub(super) not_before: Option<Instant>,
    /// The release the crashes were counted on.
    pub(super) release: i32,
}

/// What the supervisor remembers between ticks. None of it is needed across a broker restart:
/// a new broker rebuilds it from the runtime's list.
#[derive(Default)]
pub(super) struct Supervision {
    /// Crash records by (app id, dyno name).
    pub(super) slots: HashMap<(String, String), SlotState>,
    /// Containers seen up, with when (ms).
    pub(super) up: HashMap<String, i64>,
    /// Where the router reaches each web dyno that is up.
    pub(super) endpoints: HashMap<String, Endpoint>,
    /// Containers being stopped in the background.
    pub(super) stopping: HashSet<String>,
    /// Exited containers whose crash was counted.
    pub(super) crash_counted: HashSet<String>,
    /// Per container: output read so far, and its unfinished last line.
    pub(super) offsets: HashMap<String, (u64, Vec<u8>)>,
    /// Whether output from before this broker started was skipped.
    pub(super) first_tick_done: bool,
    /// The earliest moment something becomes due (a release settling, a backoff ending).
    pub(super) wake_at: Option<Instant>,
    /// When this broker first saw each container (boot timeouts count from here, so that a
    /// restarted broker does not judge adopted dynos by their age).
    pub(super) first_seen: HashMap<String, i64>,
}

impl Supervision {
    /// Makes the loop wake at `at` at the latest.
    pub(super) fn wake_by(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

/// The desired state of one app.
pub(super) struct Desired {
    /// The app.
    pub(super) app: App,
    /// Its current release (the latest that succeeded) if it has code, and that code's process types.
    pub(super) release: Option<(Release, ProcessTypes)>,
    /// Its formation rows.
    pub(super) formation: Vec<Formation>,
}

/// The moment a plan is made, on both clocks: the wall clock of the store's and the runtime's
/// timestamps, and the monotonic one of backoffs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now {
    /// Milliseconds since the epoch.
    pub(super) ms: i64,
    /// The monotonic clock.
    pub(super) at: Instant,
}

/// A formation slot to start: `web.1` with its size and command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SlotSpec {
    /// Dyno name (`web.1`).
    pub(super) name: String,
    /// Process type (`web`).
    pub(super) process_type: String,
    /// Dyno size.
    pub(super) size: String,
    /// The release's command for the process type.
    pub(super) command: String,
}

/// One thing the supervisor does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// Stop a running container in the background (SIGTERM, the grace, SIGKILL).
    Stop {
        /// Container id.
        id: String,
        /// Its app.
        app_id: String,
        /// Its dyno name.
        dyno: String,
        /// Why, for the log.
        why: &'static str,
    },
    /// Remove an exited container (at the end of the tick).
    Remove(String),
    /// Record a slot's crash state (a new release resets it).
    SetSlot(String, SlotState),
    /// A slot's newest container ended by itself: remember it was counted, log `why`, record
    /// the crash and log when the slot restarts.
    Crash {
        /// The container that ended.
        id: String,
        /// Its slot.
        dyno: String,
        /// The exit, for the log.
        why: String,
        /// The slot's new crash record.
        slot: SlotState,
        /// The restart delay.
        delay: Duration,
    },
    /// Start a slot that has no dyno; once started, remove its exited containers (`retire`).
    Start(SlotSpec, Vec<String>),
    /// Start a replacement next to a slot's outdated dyno.
    Replace(SlotSpec),
    /// Wake the loop at this moment at the latest.
    WakeAt(Instant),
}

/// The restart delay after `crashes` crashes: it doubles per crash, up to `backoff_max_ms`.
pub(super) fn backoff(settings: &RuntimeSettings, crashes: u32) -> Duration {
    let factor = 1u64 << crashes.saturating_sub(1).min(20);
    Duration::from_millis(
        settings
            .backoff_initial_ms
            .saturating_mul(factor)
            .min(settings.backoff_max_ms),
    )
}

/// A slot's record after a crash of a dyno of `release` that ran for `ran_ms`, with the delay
/// before its restart.
pub(super) fn crashed(
    settings: &RuntimeSettings,
    slot: Option<&SlotState>,
    release: i32,
    ran_ms: i64,
    now: Instant,
) -> (SlotState, Duration) {
    let mut slot = slot.cloned().unwrap_or_default();
    // A new release, or a dyno that stayed up longer than the longest delay, starts the
    // backoff afresh.
    if slot.release != release || ran_ms >= settings.backoff_max_ms as i64 {
        slot.crashes = 0;
        slot.release = release;
    }
    slot.crashes += 1;
    let delay = backoff(settings, slot.crashes);
    slot.not_before = Some(now + delay);
    (slot, delay)
}

/// Stops a running container not yet being stopped, or removes an exited one.
fn stop_or_remove(sup: &Supervision, c: &ContainerStatus, why: &'static str, out: &mut Vec<Action>) {
    if !c.running() {
        out.push(Action::Remove(c.id.clone()));
    } else if !sup.stopping.contains(&c.id) {
        out.push(stop(c, why));
    }
}

fn stop(c: &ContainerStatus, why: &'static str) -> Action {
    Action::Stop {
        id: c.id.clone(),
        app_id: label(c, "app").to_string(),
        dyno: label(c, "dyno").to_string(),
        why,
    }
}

/// The containers that belong to no app's formation: those of deleted apps (`known` lists the
/// apps there are), release phases left behind, and one-off dynos past their time to live or
/// their retention.
pub(super) fn sweep(
    list: &[ContainerStatus],
    known: &HashSet<&str>,
    sup: &Supervision,
    settings: &RuntimeSettings,
    now: Now,
) -> Vec<Action> {
    let mut out = Vec::new();
    for c in list {
        let kind = label(c, "kind");
        if !known.contains(label(c, "app")) && kind != "release" {
            stop_or_remove(sup, c, "app deleted", &mut out);
        } else if kind == "build" {
            // The build stops its own sandbox at its deadline; one whose broker died is
            // stopped here at the deadline it was labelled with.
            let deadline: i64 = label(c, "deadline_ms").parse().unwrap_or(i64::MAX);
            match exit_of(c) {
                None if now.ms > deadline => stop_or_remove(sup, c, "build timed out", &mut out),
                Some(e) if now.ms - e.at_ms > 60_000 => out.push(Action::Remove(c.id.clone())),
                _ => {}
            }
        } else if kind == "release" {
            // The build waits for its release phase; one whose build is gone (a broker
            // restart, an error) is cleaned up here.
            let limit = (settings.release_phase_timeout_ms + settings.stop_grace_ms) as i64;
            match exit_of(c) {
                None if now.ms - c.started_at_ms > limit => stop_or_remove(sup, c, "release phase timed out", &mut out),
                Some(e) if now.ms - e.at_ms > 60_000 => out.push(Action::Remove(c.id.clone())),
                _ => {}
            }
        } else if kind == "run" {
            let ttl: i64 = label(c, "ttl_ms").parse().unwrap_or(3_600_000);
            match exit_of(c) {
                None if now.ms - c.started_at_ms > ttl => stop_or_remove(sup, c, "time to live reached", &mut out),
                Some(e) if now.ms - e.at_ms > settings.one_off_retention_ms as i64 => {
                    out.push(Action::Remove(c.id.clone()))
                }
                _ => {}
            }
        }
    }
    out
}

/// The slots an app's formation wants, by name, in rollout order (`web` first).
fn wanted_slots(d: &Desired) -> Vec<SlotSpec> {
    let mut wanted = BTreeMap::new();
    if let Some((_, types)) = &d.release {
        for f in &d.formation {
            if let Some(cmd) = types.get(&f.process_type) {
                for n in 1..=f.quantity {
                    let name = format!("{}.{n}", f.process_type);
                    let spec = SlotSpec {
                        name: name.clone(),
                        process_type: f.process_type.clone(),
                        size: f.size.clone(),
                        command: cmd.clone(),
                    };
                    wanted.insert(name, spec);
                }
            }
        }
    }
    let mut slots: Vec<SlotSpec> = wanted.into_values().collect();
    slots.sort_by_key(|s| dyno_order(&s.name));
    slots
}

/// What a slot needs after this tick.
enum SlotOutcome {
    /// Nothing more.
    Done,
    /// Its only dyno runs an older release, size or command.
    Outdated,
    /// A replacement is starting next to the dyno it replaces.
    InFlight,
}

/// One app's plan being made: the actions so far and the crash records they changed.
struct Planner<'a> {
    d: &'a Desired,
    sup: &'a Supervision,
    settings: &'a RuntimeSettings,
    now: Now,
    /// Crash records changed by this plan, by dyno name (they shadow `sup.slots`).
    slots: HashMap<String, SlotState>,
    out: Vec<Action>,
}

/// What to do for one app: compare its formation with its formation dynos in `list`, given what
/// the supervisor remembers.
///
/// - Dynos whose slot is no longer wanted are stopped (or, exited, removed).
/// - A slot without a live dyno is started, unless a crash backoff holds it back (then the loop
///   wakes when it ends). A new release resets the backoff.
/// - A slot whose dyno runs an outdated release, size or command gets a replacement beside it,
///   one slot of the app at a time and only once the release is `restart_debounce_ms` old; the
///   old dyno is stopped once the replacement is up.
/// - A dyno already being stopped is never stopped again, and its slot waits for it to go.
pub(super) fn plan(
    d: &Desired,
    list: &[ContainerStatus],
    sup: &Supervision,
    settings: &RuntimeSettings,
    now: Now,
) -> Vec<Action> {
    let mine: Vec<&ContainerStatus> = list
        .iter()
        .filter(|c| label(c, "app") == d.app.id && label(c, "kind") == "formation")
        .collect();
    let wanted = wanted_slots(d);
    let mut p = Planner {
        d,
        sup,
        settings,
        now,
        slots: HashMap::new(),
        out: Vec::new(),
    };
    // Extra dynos: their slot is not wanted any more.
    for c in &mine {
        if !wanted.iter().any(|s| s.name == label(c, "dyno")) {
            stop_or_remove(sup, c, "scaled down", &mut p.out);
        }
    }
    let Some((release, _)) = &d.release else { return p.out };
    let age = now.ms - release.created_at;
    let debounce = settings.restart_debounce_ms as i64;
    let settled = age >= debounce;
    if !settled {
        p.out
            .push(Action::WakeAt(now.at + Duration::from_millis((debounce - age) as u64)));
    }
    let mut in_flight = false;
    let mut outdated: Vec<&SlotSpec> = Vec::new();
    for spec in &wanted {
        match p.slot(release, spec, &mine) {
            SlotOutcome::Done => {}
            SlotOutcome::Outdated => outdated.push(spec),
            SlotOutcome::InFlight => in_flight = true,
        }
    }
    // Roll one outdated dyno at a time, once the release has settled.
    if in_flight || !settled {
        return p.out;
    }
    if let Some(spec) = outdated.into_iter().find(|s| p.ready(&s.name, release.version)) {
        p.out.push(Action::Replace(spec.clone()));
    }
    p.out
}

impl Planner<'_> {
    /// The slot's crash record as this plan has left it.
    fn slot_state(&self, name: &str) -> Option<&SlotState> {
        self.slots
            .get(name)
            .or_else(|| self.sup.slots.get(&(self.d.app.id.clone(), name.to_string())))
    }

    /// Whether an outdated slot may be replaced now (no backoff of this release holds it).
    fn ready(&self, name: &str, version: i32) -> bool {
        self.slot_state(name)
            .is_none_or(|slot| slot.release != version || slot.not_before.is_none_or(|t| self.now.at >= t))
    }

    fn slot(&mut self, release: &Release, spec: &SlotSpec, mine: &[&ContainerStatus]) -> SlotOutcome {
        let matches = |c: &ContainerStatus| {
            release_of(c) == release.version && label(c, "size") == spec.size && c.command == spec.command
        };
        let mut cs: Vec<&ContainerStatus> = mine.iter().copied().filter(|c| label(c, "dyno") == spec.name).collect();
        cs.sort_by_key(|c| Reverse(c.started_at_ms));
        let live: Vec<&ContainerStatus> = cs
            .iter()
            .copied()
            .filter(|c| c.running() && !self.sup.stopping.contains(&c.id))
            .collect();
        // Exited containers other than the newest are history: forget them.
        for c in cs.iter().filter(|c| !c.running()).skip(1) {
            self.out.push(Action::Remove(c.id.clone()));
        }
        if let Some(last) = cs.first() {
            self.count_crash(&spec.name, last);
        }
        match live.as_slice() {
            [] => {
                self.start(release.version, spec, &cs);
                SlotOutcome::Done
            }
            [only] if matches(only) => SlotOutcome::Done,
            [_] => SlotOutcome::Outdated,
            many => {
                // A replacement next to the dyno it replaces, or duplicates adopted after a
                // restart: keep the best, retire the others once it is up.
                let up = |c: &ContainerStatus| self.sup.up.contains_key(&c.id);
                let Some(best) = many
                    .iter()
                    .copied()
                    .max_by_key(|c| (matches(c), up(c), c.started_at_ms))
                else {
                    return SlotOutcome::Done;
                };
                if !up(best) {
                    return SlotOutcome::InFlight;
                }
                for c in many.iter().filter(|c| c.id != best.id) {
                    self.out.push(stop(c, "replaced"));
                }
                SlotOutcome::Done
            }
        }
    }

    /// The newest container of the slot ended by itself: a crash (also when it was a
    /// replacement that died before it came up), counted once.
    fn count_crash(&mut self, name: &str, last: &ContainerStatus) {
        let Some(e) = exit_of(last) else { return };
        if e.stopped || self.sup.crash_counted.contains(&last.id) {
            return;
        }
        let why = if e.oom_killed {
            "Error R15 (Memory quota vastly exceeded): killed by the kernel".to_string()
        } else {
            format!(
                "Process exited with status {}",
                e.code.map_or("unknown (killed)".into(), |c| c.to_string())
            )
        };
        let ran = e.at_ms - last.started_at_ms;
        let (slot, delay) = crashed(self.settings, self.slot_state(name), release_of(last), ran, self.now.at);
        self.slots.insert(name.to_string(), slot.clone());
        self.out.push(Action::Crash {
            id: last.id.clone(),
            dyno: name.to_string(),
            why,
            slot,
            delay,
        });
    }

    /// A slot without a live dyno: start one, unless a dyno is still being stopped (a restart:
    /// it starts again once that one is gone) or a crash backoff holds it back.
    fn start(&mut self, version: i32, spec: &SlotSpec, cs: &[&ContainerStatus]) {
        if cs.iter().any(|c| c.running()) {
            return;
        }
        let old = self.slot_state(&spec.name).cloned();
        let mut slot = old.clone().unwrap_or_default();
        if slot.release != version {
            // A new release resets the backoff.
            slot = SlotState {
                crashes: 0,
                not_before: None,
                release: version,
            };
        }
        if old.as_ref() != Some(&slot) {
            self.slots.insert(spec.name.clone(), slot.clone());
            self.out.push(Action::SetSlot(spec.name.clone(), slot.clone()));
        }
        if let Some(t) = slot.not_before.filter(|t| self.now.at < *t) {
            self.out.push(Action::WakeAt(t));
            return;
        }
        let retire = cs.iter().filter(|c| !c.running()).map(|c| c.id.clone()).collect();
        self.out.push(Action::Start(spec.clone(), retire));
    }
}

#[cfg(test)]
mod tests;
