//! The runtime's supervisor lease: of the replicas that share a runtime (`runtime.name`),
//! exactly one starts, stops and watches its dynos at a time, the holder of a lease row in
//! the state store. The holder renews the lease every third of `runtime.lease_ms`; when it
//! dies, another replica takes the lease over once it has lapsed and adopts the running
//! dynos from the shared `runtime.root`, as a restarted broker does. A replica that does not
//! hold the lease serves the API and sends dyno requests to the holder (`http/forward.rs`);
//! what reaches the runtime there anyway (attaching) answers 503.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::db::models::SupervisorLease;
use crate::db::now_ms;
use crate::error::{Error, Result};

use super::manager::Dynos;

/// The lease as the supervision loop tracks it.
#[derive(Debug, Default)]
pub(super) struct LeaseClock {
    renewed: Option<Instant>,
}

impl Dynos {
    fn lease_ms(&self) -> u64 {
        self.inner.settings.lease_ms.max(300)
    }

    /// Tries to take or renew the lease now; true while this broker holds it. When the state
    /// store cannot be reached, the lease as last renewed holds until it would have lapsed;
    /// the dynos run on either way (stopping them for an outage would only add one).
    pub async fn claim_lease(&self) -> bool {
        let (name, me, url, lease) = (
            self.inner.settings.name.clone(),
            self.inner.supervisor.clone(),
            self.inner.url.clone(),
            self.lease_ms() as i64,
        );
        // The row's expiry is reckoned from before the write: never later than the store's.
        let asked_at = now_ms();
        let held = self
            .inner
            .db
            .write(move |c| {
                let now = now_ms();
                SupervisorLease::hold(c, &name, (&me, &url), now, now + lease)
            })
            .await;
        let was = self.inner.holding.load(Ordering::Acquire);
        let now = match held {
            Ok(h) => h,
            Err(e) => {
                if !e.is_outage() {
                    warn!(error = %e.chain(), "renewing the supervisor lease failed");
                }
                // The lease as last renewed still counts, up to its end (`is_supervisor`).
                return self.is_supervisor();
            }
        };
        if now {
            self.inner.held_until.store(asked_at + lease, Ordering::Release);
        }
        if now != was {
            self.inner.holding.store(now, Ordering::Release);
            if now {
                info!(runtime = %self.inner.settings.name, "supervising the runtime's dynos (this broker holds its lease)");
            } else {
                warn!(runtime = %self.inner.settings.name, "another broker supervises the runtime's dynos now; this one stops supervising");
            }
        }
        now
    }

    /// The lease step of one supervision round: renews it when a third of it has passed (at
    /// once when it is not held); true when this broker may supervise this round.
    pub(super) async fn lease_round(&self, clock: &mut LeaseClock) -> bool {
        let third = Duration::from_millis(self.lease_ms() / 3);
        let due = clock.renewed.is_none_or(|t| t.elapsed() >= third) || !self.is_supervisor();
        if due {
            let held = self.claim_lease().await;
            if held {
                clock.renewed = Some(Instant::now());
            }
            return held;
        }
        self.is_supervisor()
    }

    /// Gives the lease up (a broker stopping), so that another replica takes over at once.
    pub(super) async fn release_lease(&self) {
        if !self.is_supervisor() {
            return;
        }
        let (name, me) = (self.inner.settings.name.clone(), self.inner.supervisor.clone());
        let _ = self
            .inner
            .db
            .write(move |c| SupervisorLease::release(c, &name, &me))
            .await;
        self.inner.holding.store(false, Ordering::Release);
    }

    /// Takes the lease at start-up when the runtime is free, before the API serves (so that a
    /// single broker never answers a dyno request 503 while its loop starts).
    pub async fn claim_lease_at_start(&self) {
        if self.inner.runtime.is_some() {
            self.claim_lease().await;
        }
    }

    /// Where dyno requests go when another replica supervises the runtime (`None` here, on
    /// the supervisor, without a runtime, or when nobody holds the lease now).
    pub async fn supervisor_url(&self) -> Option<String> {
        if self.inner.runtime.is_none() || self.is_supervisor() {
            return None;
        }
        let name = self.inner.settings.name.clone();
        let lease = self
            .inner
            .db
            .run(move |c| SupervisorLease::current(c, &name, now_ms()))
            .await
            .ok()??;
        (lease.holder != self.inner.supervisor && !lease.url.is_empty()).then_some(lease.url)
    }

    /// Whether this broker supervises the runtime now: it took the lease, and the lease as last
    /// renewed has not run out (a broker cut off from the state store stops supervising when
    /// another replica may take over).
    pub fn is_supervisor(&self) -> bool {
        self.inner.holding.load(Ordering::Acquire) && now_ms() < self.inner.held_until.load(Ordering::Acquire)
    }

    /// The runtime, for operations only its supervisor may do (503 on another replica).
    pub(super) fn supervised_runtime(&self) -> Result<&std::sync::Arc<dyn runtime::Runtime>> {
        let rt = self.runtime()?;
        if !self.is_supervisor() {
            return Err(Error::Unavailable(
                "this replica does not supervise the dynos now (another broker holds the runtime's lease); retry, or send dyno requests to that broker".into(),
            ));
        }
        Ok(rt)
    }
}
