//! Which web dynos take requests: each app's pool of backends, as the dyno supervisor
//! publishes it, with every backend's in-flight count and idle connections.
//!
//! A backend joins only once its port accepts (the supervisor's `up`), and leaves before it
//! is sent SIGTERM: [`Pool::leave`] takes it out of rotation at once, and the caller waits on
//! [`Backend::drain`] for its in-flight requests to finish.
//!
//! Choice of backend: least connections, ties broken round robin. A dyno busy with slow
//! requests, long polls or WebSockets gets fewer new ones, and equally busy dynos share
//! requests in turn.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use runtime::Endpoint;
use tokio::sync::Notify;

use super::lanes;
use super::link::Link;

/// Idle connections kept per backend.
const MAX_IDLE: usize = 64;
/// An idle connection older than this is closed rather than reused: below the shortest
/// keep-alive timeout of common app servers (gunicorn's 2 s), so the dyno never closes one
/// just as a request is written to it.
const IDLE_FOR: Duration = Duration::from_millis(1_000);

/// Idle connections to a backend, with when each became idle.
type Idle = Mutex<Vec<(Instant, Link)>>;

/// One app's web dynos as published by the supervisor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// The app's id.
    pub app_id: String,
    /// Web dynos the formation wants (0: scaled down, `H14`).
    pub wanted: u32,
    /// Whether a web dyno is starting (a request may wait for it).
    pub booting: bool,
    /// The web dynos that are up: container id, dyno name, where its `$PORT` is reached.
    pub up: Vec<(String, String, Endpoint)>,
}

/// A web dyno taking requests.
pub struct Backend {
    /// Its container.
    pub container_id: String,
    /// `web.1`.
    pub dyno: String,
    /// Where its `$PORT` is reached.
    pub endpoint: Endpoint,
    inflight: AtomicUsize,
    draining: AtomicBool,
    drained: Notify,
    /// Idle connections, one list per router lane: a connection is driven by the runtime of
    /// the lane that made it, so it is reused there.
    idle: Vec<Idle>,
}

impl Backend {
    fn new(container_id: String, dyno: String, endpoint: Endpoint) -> Backend {
        Backend {
            container_id,
            dyno,
            endpoint,
            inflight: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            drained: Notify::new(),
            idle: (0..lanes::count()).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn acquire(self: &Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Requests in flight now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// Waits until no request is in flight, `timeout` at most; true when drained.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let woken = self.drained.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.inflight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, woken).await.is_err() {
                return self.inflight() == 0;
            }
        }
    }

    /// An idle connection that is still open and fresh, if there is one.
    pub fn take_idle(&self) -> Option<Link> {
        let mut idle = self.lane_idle().lock().ok()?;
        while let Some((since, link)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && link.reusable() {
                return Some(link);
            }
        }
        None
    }

    /// Keeps a connection whose response was read whole, for the next request.
    pub fn put_idle(&self, link: Link) {
        if self.draining.load(Ordering::Acquire) || !link.reusable() {
            return;
        }
        if let Ok(mut idle) = self.lane_idle().lock() {
            idle.retain(|(since, l)| since.elapsed() < IDLE_FOR && l.reusable());
            if idle.len() < MAX_IDLE {
                idle.push((Instant::now(), link));
            }
        }
    }

    /// This lane's idle connections.
    fn lane_idle(&self) -> &Idle {
        &self.idle[lanes::current() % self.idle.len()]
    }

    fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
        for lane in &self.idle {
            if let Ok(mut idle) = lane.lock() {
                idle.clear();
            }
        }
        self.drained.notify_waiters();
    }
}

/// A request in flight on a backend; dropping it ends the request's count.
pub struct InFlight(Arc<Backend>);

impl InFlight {
    /// The backend.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::AcqRel) == 1 && self.0.draining.load(Ordering::Acquire) {
            self.0.drained.notify_waiters();
        }
    }
}

/// What a request finds when it asks an app's pool for a backend.
pub enum Pick {
    /// This backend, its request counted.
    Backend(InFlight),
    /// The formation wants no web dyno (`H14`).
    NoneWanted,
    /// None is up but one is starting: wait for [`AppRoutes::changed`].
    Booting,
    /// None is up or starting (`H10`).
    Crashed,
}

#[derive(Default)]
struct Members {
    wanted: u32,
    booting: bool,
    backends: Vec<Arc<Backend>>,
}

/// One app's routes.
#[derive(Default)]
pub struct AppRoutes {
    members: RwLock<Members>,
    changed: Notify,
    cursor: AtomicUsize,
}

impl AppRoutes {
    /// The least busy backend not in `tried`, ties taken in turn.
    pub fn pick(&self, tried: &[String]) -> Pick {
        let Ok(m) = self.members.read() else {
            return Pick::Crashed;
        };
        if m.wanted == 0 {
            return Pick::NoneWanted;
        }
        let n = m.backends.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let best = (0..n)
            .map(|i| &m.backends[(start + i) % n.max(1)])
            .filter(|b| !tried.contains(&b.container_id))
            .min_by_key(|b| b.inflight());
        match best {
            Some(b) => Pick::Backend(b.acquire()),
            None if m.booting => Pick::Booting,
            None => Pick::Crashed,
        }
    }

    /// Resolves when the app's backends change (one joined, left, or booting ended).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

/// Every app's routes (cheap to clone).
#[derive(Clone, Default)]
pub struct Pool {
    apps: Arc<RwLock<HashMap<String, Arc<AppRoutes>>>>,
    drain_timeout: Duration,
}

impl Pool {
    /// An empty pool whose leaving backends are waited for `drain_timeout` at most.
    pub fn new(drain_timeout: Duration) -> Pool {
        Pool {
            apps: Arc::default(),
            drain_timeout,
        }
    }

    /// How long a leaving backend's requests in flight are waited for (`router.drain_timeout_ms`).
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    /// The routes of an app (`None`: the supervisor publishes nothing for it, so it has no
    /// web dynos).
    pub fn app(&self, app_id: &str) -> Option<Arc<AppRoutes>> {
        self.apps.read().ok()?.get(app_id).cloned()
    }

    /// Replaces the table with what the supervisor sees now. A backend that stays keeps its
    /// connections and counts; apps left out are dropped.
    pub fn publish(&self, apps: Vec<Published>) {
        let Ok(mut table) = self.apps.write() else { return };
        let mut next: HashMap<String, Arc<AppRoutes>> = HashMap::with_capacity(apps.len());
        for p in apps {
            let routes = table.remove(&p.app_id).unwrap_or_default();
            if let Ok(mut m) = routes.members.write() {
                let mut changed = m.wanted != p.wanted || m.booting != p.booting || m.backends.len() != p.up.len();
                let backends =
                    p.up.into_iter()
                        .map(|(id, dyno, endpoint)| {
                            match m
                                .backends
                                .iter()
                                .find(|b| b.container_id == id && b.endpoint == endpoint)
                            {
                                Some(b) => b.clone(),
                                None => {
                                    changed = true;
                                    Arc::new(Backend::new(id, dyno, endpoint))
                                }
                            }
                        })
                        .collect();
                *m = Members {
                    wanted: p.wanted,
                    booting: p.booting,
                    backends,
                };
                if changed {
                    routes.changed.notify_waiters();
                }
            }
            next.insert(p.app_id, routes);
        }
        // Requests waiting on an app that is gone learn it at once.
        for gone in table.values() {
            gone.changed.notify_waiters();
        }
        *table = next;
    }

    /// Takes a container out of rotation before it is stopped; the returned backend's
    /// [`Backend::drain`] waits for its requests in flight.
    pub fn leave(&self, container_id: &str) -> Option<Arc<Backend>> {
        let table = self.apps.read().ok()?;
        for routes in table.values() {
            let Ok(mut m) = routes.members.write() else { continue };
            if let Some(i) = m.backends.iter().position(|b| b.container_id == container_id) {
                let b = m.backends.remove(i);
                b.start_draining();
                routes.changed.notify_waiters();
                return Some(b);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(wanted: u32, booting: bool, up: &[(&str, u16)]) -> Published {
        Published {
            app_id: "a".into(),
            wanted,
            booting,
            up: up
                .iter()
                .enumerate()
                .map(|(i, (id, port))| {
                    let endpoint = Endpoint::tcp(([127, 0, 0, 1], *port).into());
                    (id.to_string(), format!("web.{}", i + 1), endpoint)
                })
                .collect(),
        }
    }

    fn picked(routes: &AppRoutes, tried: &[String]) -> Option<InFlight> {
        match routes.pick(tried) {
            Pick::Backend(b) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn equally_busy_backends_take_turns_and_the_least_busy_wins() {
        let pool = Pool::new(Duration::from_secs(1));
        pool.publish(vec![published(2, false, &[("x", 1), ("y", 2)])]);
        let routes = pool.app("a").unwrap();
        let first = picked(&routes, &[]).unwrap();
        // With `first` in flight, the other backend is the least busy every time.
        for _ in 0..3 {
            let next = picked(&routes, &[]).unwrap();
            assert_ne!(next.backend().container_id, first.backend().container_id);
        }
        drop(first);
        let ids: Vec<String> = (0..4)
            .map(|_| picked(&routes, &[]).unwrap().backend().container_id.clone())
            .collect();
        assert!(
            ids.contains(&"x".to_string()) && ids.contains(&"y".to_string()),
            "{ids:?}"
        );
    }

    #[test]
    fn a_leaving_backend_gets_no_requests_and_drains() {
        let pool = Pool::new(Duration::from_secs(1));
        pool.publish(vec![published(2, false, &[("x", 1), ("y", 2)])]);
        let routes = pool.app("a").unwrap();
        let held = loop {
            let b = picked(&routes, &[]).unwrap();
            if b.backend().container_id == "x" {
                break b;
            }
        };
        let leaving = pool.leave("x").unwrap();
        for _ in 0..4 {
            assert_eq!(picked(&routes, &[]).unwrap().backend().container_id, "y");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert!(
            !rt.block_on(leaving.drain(Duration::from_millis(20))),
            "a request is still in flight"
        );
        drop(held);
        assert!(rt.block_on(leaving.drain(Duration::from_secs(5))));
    }

    #[test]
    fn an_empty_pool_says_why() {
        let pool = Pool::new(Duration::from_secs(1));
        pool.publish(vec![published(0, false, &[])]);
        assert!(matches!(pool.app("a").unwrap().pick(&[]), Pick::NoneWanted));
        pool.publish(vec![published(1, true, &[])]);
        assert!(matches!(pool.app("a").unwrap().pick(&[]), Pick::Booting));
        pool.publish(vec![published(1, false, &[])]);
        assert!(matches!(pool.app("a").unwrap().pick(&[]), Pick::Crashed));
        pool.publish(vec![published(1, false, &[("x", 1)])]);
        assert!(matches!(pool.app("a").unwrap().pick(&["x".to_string()]), Pick::Crashed));
        pool.publish(vec![]);
        assert!(pool.app("a").is_none());
    }
}
