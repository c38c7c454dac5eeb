//! The supervisor's rules, on made-up states.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use runtime::{ContainerStatus, Exit, State};

use super::{plan, sweep, Action, Desired, Now, SlotSpec, SlotState, Supervision};
use crate::config::RuntimeSettings;
use crate::db::models::{App, Formation, Release};

const APP: &str = "app-1";
/// The plans' wall clock (ms).
const T: i64 = 1_000_000;

fn settings() -> RuntimeSettings {
    RuntimeSettings {
        restart_debounce_ms: 150,
        backoff_initial_ms: 300,
        backoff_max_ms: 10_000,
        ..RuntimeSettings::default()
    }
}

fn now(at: Instant) -> Now {
    Now { ms: T, at }
}

/// App `APP` on release `version` (created `age` ms ago) with `web: ./web` and
/// `worker: ./worker`, and this formation (type, quantity).
fn desired(version: i32, age: i64, formation: &[(&str, i32)]) -> Desired {
    let app = App {
        id: APP.into(),
        name: "sample".into(),
        owner: "owner".into(),
        created_at: 0,
        updated_at: 0,
        team_id: None,
    };
    let release = Release {
        id: format!("r{version}"),
        app_id: APP.into(),
        version,
        description: String::new(),
        config: Vec::new(),
        addon_plan_names: "[]".into(),
        status: "succeeded".into(),
        created_by: None,
        created_at: T - age,
        slug_id: Some("slug".into()),
    };
    let types = BTreeMap::from([
        ("web".to_string(), "./web".to_string()),
        ("worker".into(), "./worker".into()),
    ]);
    let formation = formation
        .iter()
        .map(|(t, q)| Formation {
            id: format!("f-{t}"),
            app_id: APP.into(),
            process_type: t.to_string(),
            quantity: *q,
            size: "standard-1x".into(),
            created_at: 0,
            updated_at: 0,
        })
        .collect();
    Desired {
        app,
        release: Some((release, types)),
        formation,
    }
}

/// A running formation container `id` of dyno `name` on `release`, started at `started`.
fn running(id: &str, name: &str, release: i32, started: i64) -> ContainerStatus {
    let process_type = name.split('.').next().unwrap_or_default();
    ContainerStatus {
        id: id.into(),
        labels: BTreeMap::from([
            ("app".to_string(), APP.to_string()),
            ("dyno".into(), name.into()),
            ("type".into(), process_type.into()),
            ("kind".into(), "formation".into()),
            ("release".into(), release.to_string()),
            ("size".into(), "standard-1x".into()),
        ]),
        command: format!("./{process_type}"),
        started_at_ms: started,
        state: State::Running,
    }
}

/// The same container, exited by itself with `code` at `at`.
fn exited(mut c: ContainerStatus, code: i32, at: i64) -> ContainerStatus {
    c.state = State::Exited(Exit {
        code: Some(code),
        oom_killed: false,
        stopped: false,
        at_ms: at,
    });
    c
}

fn spec(name: &str) -> SlotSpec {
    let t = name.split('.').next().unwrap_or_default();
    SlotSpec {
        name: name.into(),
        process_type: t.into(),
        size: "standard-1x".into(),
        command: format!("./{t}"),
    }
}

fn starts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start(s, _) => Some(s.name.clone()),
            _ => None,
        })
        .collect()
}

fn replaces(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Replace(s) => Some(s.name.clone()),
            _ => None,
        })
        .collect()
}

fn stops(actions: &[Action]) -> Vec<(String, &'static str)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Stop { id, why, .. } => Some((id.clone(), *why)),
            _ => None,
        })
        .collect()
}

fn removes(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// Supervision where these containers are up.
fn up(ids: &[&str]) -> Supervision {
    let mut sup = Supervision::default();
    for id in ids {
        sup.up.insert(id.to_string(), T - 5_000);
    }
    sup
}

#[test]
fn missing_dynos_are_started_web_first_and_their_slots_recorded() {
    let at = Instant::now();
    let d = desired(2, 10_000, &[("worker", 1), ("web", 2)]);
    let actions = plan(&d, &[], &Supervision::default(), &settings(), now(at));
    assert_eq!(starts(&actions), ["web.1", "web.2", "worker.1"]);
    assert!(actions.contains(&Action::Start(spec("web.1"), vec![])));
    let fresh = SlotState {
        crashes: 0,
        not_before: None,
        release: 2,
    };
    assert!(actions.contains(&Action::SetSlot("web.1".into(), fresh)));
}

#[test]
fn nothing_runs_before_the_first_build() {
    let mut d = desired(1, 10_000, &[("web", 1)]);
    d.release = None;
    assert_eq!(
        plan(&d, &[], &Supervision::default(), &settings(), now(Instant::now())),
        []
    );
}

#[test]
fn extras_are_stopped_and_exited_extras_removed() {
    let list = [
        running("a", "web.1", 2, 1),
        running("b", "web.2", 2, 2),
        exited(running("c", "worker.1", 2, 3), 1, 4),
    ];
    let d = desired(2, 10_000, &[("web", 1)]);
    let actions = plan(&d, &list, &up(&["a", "b"]), &settings(), now(Instant::now()));
    assert_eq!(stops(&actions), [("b".to_string(), "scaled down")]);
    assert_eq!(removes(&actions), ["c"]);
    assert!(
        starts(&actions).is_empty() && replaces(&actions).is_empty(),
        "{actions:?}"
    );
}

#[test]
fn containers_of_other_apps_and_kinds_are_not_this_apps_dynos() {
    let mut other = running("x", "web.1", 2, 1);
    other.labels.insert("app".into(), "app-2".into());
    let mut run = running("y", "run.1", 2, 1);
    run.labels.insert("kind".into(), "run".into());
    let d = desired(2, 10_000, &[("web", 1)]);
    let actions = plan(
        &d,
        &[other, run],
        &Supervision::default(),
        &settings(),
        now(Instant::now()),
    );
    assert_eq!(starts(&actions), ["web.1"]);
    assert!(stops(&actions).is_empty(), "{actions:?}");
}

#[test]
fn outdated_dynos_are_replaced_one_at_a_time_beside_the_old_one() {
    let at = Instant::now();
    let d = desired(3, 10_000, &[("web", 2)]);
    // Both run release 2: one replacement, for web.1, and nothing is stopped yet.
    let list = vec![running("a", "web.1", 2, 1), running("b", "web.2", 2, 2)];
    let actions = plan(&d, &list, &up(&["a", "b"]), &settings(), now(at));
    assert_eq!(replaces(&actions), ["web.1"]);
    assert!(stops(&actions).is_empty(), "{actions:?}");

    // The replacement runs but is not up: the old one stays, and web.2 waits.
    let mut list = list;
    list.push(running("a2", "web.1", 3, 10));
    let actions = plan(&d, &list, &up(&["a", "b"]), &settings(), now(at));
    assert_eq!(actions, [], "nothing happens while a replacement boots");

    // Once it is up, the old one is stopped and web.2's replacement starts.
    let actions = plan(&d, &list, &up(&["a", "b", "a2"]), &settings(), now(at));
    assert_eq!(stops(&actions), [("a".to_string(), "replaced")]);
    assert_eq!(replaces(&actions), ["web.2"]);
}

#[test]
fn a_changed_size_or_command_is_outdated_too() {
    let d = desired(2, 10_000, &[("web", 1), ("worker", 1)]);
    let mut web = running("a", "web.1", 2, 1);
    web.labels.insert("size".into(), "standard-2x".into());
    let mut worker = running("b", "worker.1", 2, 1);
    worker.command = "./old-worker".into();
    let actions = plan(
        &d,
        &[web.clone(), worker.clone()],
        &up(&["a", "b"]),
        &settings(),
        now(Instant::now()),
    );
    assert_eq!(replaces(&actions), ["web.1"], "web first, one at a time");
    let actions = plan(&d, &[worker], &up(&["b"]), &settings(), now(Instant::now()));
    assert_eq!(replaces(&actions), ["worker.1"]);
}

#[test]
fn a_release_rolls_out_only_once_it_has_settled() {
    let at = Instant::now();
    let d = desired(3, 50, &[("web", 1), ("worker", 1)]);
    let list = [running("a", "web.1", 2, 1)];
    let actions = plan(&d, &list, &up(&["a"]), &settings(), now(at));
    assert!(replaces(&actions).is_empty(), "{actions:?}");
    assert!(actions.contains(&Action::WakeAt(at + Duration::from_millis(100))));
    // A missing dyno does not wait for the debounce.
    assert_eq!(starts(&actions), ["worker.1"]);
    let settled = desired(3, 150, &[("web", 1), ("worker", 1)]);
    assert_eq!(
        replaces(&plan(&settled, &list, &up(&["a"]), &settings(), now(at))),
        ["web.1"]
    );
}

#[test]
fn a_crashed_dyno_waits_for_its_backoff() {
    let at = Instant::now();
    let d = desired(2, 10_000, &[("web", 1)]);
    let list = [exited(running("a", "web.1", 2, T - 1_000), 1, T - 10)];
    let actions = plan(&d, &list, &Supervision::default(), &settings(), now(at));
    let slot = SlotState {
        crashes: 1,
        not_before: Some(at + Duration::from_millis(300)),
        release: 2,
    };
    let crash = Action::Crash {
        id: "a".into(),
        dyno: "web.1".into(),
        why: "Process exited with status 1".into(),
        slot: slot.clone(),
        delay: Duration::from_millis(300),
    };
    assert_eq!(actions, [crash, Action::WakeAt(at + Duration::from_millis(300))]);

    // Counted already, the backoff still running: no second count, no start.
    let mut sup = Supervision::default();
    sup.crash_counted.insert("a".into());
    sup.slots.insert((APP.into(), "web.1".into()), slot.clone());
    let actions = plan(&d, &list, &sup, &settings(), now(at + Duration::from_millis(100)));
    assert_eq!(actions, [Action::WakeAt(at + Duration::from_millis(300))]);

    // The backoff over: the slot starts again and the crashed container is retired.
    let actions = plan(&d, &list, &sup, &settings(), now(at + Duration::from_millis(300)));
    assert_eq!(actions, [Action::Start(spec("web.1"), vec!["a".into()])]);
}

#[test]
fn the_backoff_doubles_and_restarts_after_a_long_run_or_a_new_release() {
    let at = Instant::now();
    let d = desired(2, 10_000, &[("web", 1)]);
    let mut sup = Supervision::default();
    let earlier = SlotState {
        crashes: 2,
        not_before: None,
        release: 2,
    };
    sup.slots.insert((APP.into(), "web.1".into()), earlier);
    let delay = |list: &[ContainerStatus], sup: &Supervision| {
        plan(&d, list, sup, &settings(), now(at)).iter().find_map(|a| match a {
            Action::Crash { slot, delay, .. } => Some((slot.crashes, delay.as_millis())),
            _ => None,
        })
    };
    let short = [exited(running("a", "web.1", 2, T - 1_000), 1, T - 10)];
    assert_eq!(delay(&short, &sup), Some((3, 1_200)));
    let long = [exited(running("a", "web.1", 2, T - 20_000), 1, T - 10)];
    assert_eq!(delay(&long, &sup), Some((1, 300)));
    let new_release = desired(3, 10_000, &[("web", 1)]);
    let on_new = [exited(running("a", "web.1", 3, T - 1_000), 1, T - 10)];
    let actions = plan(&new_release, &on_new, &sup, &settings(), now(at));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Crash { slot, .. } if slot.crashes == 1)));
}

#[test]
fn a_new_release_resets_the_backoff_of_a_waiting_slot() {
    let at = Instant::now();
    let d = desired(3, 10_000, &[("web", 1)]);
    let list = [exited(running("a", "web.1", 2, T - 1_000), 1, T - 10)];
    let mut sup = Supervision::default();
    sup.crash_counted.insert("a".into());
    let waiting = SlotState {
        crashes: 4,
        not_before: Some(at + Duration::from_secs(5)),
        release: 2,
    };
    sup.slots.insert((APP.into(), "web.1".into()), waiting);
    let actions = plan(&d, &list, &sup, &settings(), now(at));
    let fresh = SlotState {
        crashes: 0,
        not_before: None,
        release: 3,
    };
    assert_eq!(
        actions,
        [
            Action::SetSlot("web.1".into(), fresh),
            Action::Start(spec("web.1"), vec!["a".into()])
        ]
    );
}

#[test]
fn stopping_dynos_are_never_stopped_twice() {
    let at = Instant::now();
    let d = desired(2, 10_000, &[("web", 1)]);
    // An extra being stopped, and web.1 being restarted.
    let list = [running("a", "web.1", 2, 1), running("b", "web.2", 2, 2)];
    let mut sup = up(&["a", "b"]);
    sup.stopping.extend(["a".to_string(), "b".to_string()]);
    let actions = plan(&d, &list, &sup, &settings(), now(at));
    assert_eq!(actions, [], "web.1 starts again once its old dyno is gone");

    // A slot with a replacement up and an old dyno already being stopped.
    let d = desired(3, 10_000, &[("web", 1)]);
    let list = [running("a", "web.1", 2, 1), running("a2", "web.1", 3, 5)];
    let mut sup = up(&["a", "a2"]);
    sup.stopping.insert("a".into());
    assert_eq!(plan(&d, &list, &sup, &settings(), now(at)), []);
}

#[test]
fn duplicates_adopted_after_a_restart_keep_the_best() {
    let d = desired(2, 10_000, &[("web", 1)]);
    let list = [running("old", "web.1", 2, 1), running("new", "web.1", 2, 5)];
    let actions = plan(&d, &list, &up(&["old", "new"]), &settings(), now(Instant::now()));
    assert_eq!(stops(&actions), [("old".to_string(), "replaced")]);
}

#[test]
fn exited_history_is_removed_but_the_newest_kept_until_a_start() {
    let at = Instant::now();
    let d = desired(2, 10_000, &[("web", 1)]);
    let list = [
        exited(running("a", "web.1", 2, 1), 1, 2),
        exited(running("b", "web.1", 2, 3), 1, 4),
        running("c", "web.1", 2, 5),
    ];
    let mut sup = up(&["c"]);
    sup.crash_counted.extend(["a".to_string(), "b".to_string()]);
    assert_eq!(
        plan(&d, &list, &sup, &settings(), now(at)),
        [Action::Remove("a".into())]
    );
}

#[test]
fn the_sweep_stops_orphans_and_expired_one_offs_and_removes_old_ones() {
    let s = settings();
    let mut orphan = running("o", "web.1", 1, T - 10);
    orphan.labels.insert("app".into(), "gone".into());
    let mut run = running("r", "run.1", 1, T - 3_700_000);
    run.labels.insert("kind".into(), "run".into());
    let mut ttl = running("t", "run.2", 1, T - 2_000);
    ttl.labels.insert("kind".into(), "run".into());
    ttl.labels.insert("ttl_ms".into(), "1000".into());
    let mut old = exited(running("x", "run.3", 1, 0), 0, T - s.one_off_retention_ms as i64 - 1);
    old.labels.insert("kind".into(), "run".into());
    let mut release = exited(running("p", "release.2", 1, 0), 0, T - 60_001);
    release.labels.insert("kind".into(), "release".into());
    let list = [orphan, run, ttl, old, release, running("k", "web.1", 1, 0)];
    let known = HashSet::from([APP]);
    let mut sup = Supervision::default();
    sup.stopping.insert("t".into());
    let actions = sweep(&list, &known, &sup, &s, now(Instant::now()));
    assert_eq!(
        stops(&actions),
        [
            ("o".to_string(), "app deleted"),
            ("r".to_string(), "time to live reached")
        ]
    );
    assert_eq!(removes(&actions), ["x", "p"]);
}
