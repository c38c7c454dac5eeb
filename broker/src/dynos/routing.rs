//! What the router may send requests to: after each look at the runtime, the supervisor
//! publishes every app's web dynos that are up to the router's [`Pool`](crate::router::pool::Pool),
//! and whether one is on its way (starting, or about to be started), in which case a request
//! waits for it rather than failing. A dyno being stopped is never among them.

use std::collections::HashSet;
use std::time::Instant;

use runtime::{ContainerStatus, Endpoint};

use crate::router::pool::Published;

use super::containers::label;
use super::manager::Dynos;
use super::plan::{Desired, Supervision};

impl Dynos {
    /// Publishes each desired app's web dynos: those up, and whether one is on its way.
    pub(super) fn publish_routes(&self, sup: &Supervision, desired: &[Desired], list: &[ContainerStatus]) {
        let web: Vec<&ContainerStatus> = list
            .iter()
            .filter(|c| {
                c.running()
                    && label(c, "kind") == "formation"
                    && label(c, "type") == "web"
                    && !sup.stopping.contains(&c.id)
            })
            .collect();
        let published = desired.iter().map(|d| {
            let has_web = d.release.as_ref().is_some_and(|(_, types)| types.contains_key("web"));
            let wanted: u32 = d
                .formation
                .iter()
                .filter(|f| f.process_type == "web" && has_web)
                .map(|f| f.quantity.max(0) as u32)
                .sum();
            let mine: Vec<&&ContainerStatus> = web.iter().filter(|c| label(c, "app") == d.app.id).collect();
            let up: Vec<(String, String, Endpoint)> = mine
                .iter()
                .filter(|c| sup.up.contains_key(&c.id))
                .filter_map(|c| {
                    Some((
                        c.id.clone(),
                        label(c, "dyno").to_string(),
                        sup.endpoints.get(&c.id)?.clone(),
                    ))
                })
                .collect();
            let running: HashSet<&str> = mine.iter().map(|c| label(c, "dyno")).collect();
            let up_names: HashSet<&str> = up.iter().map(|(_, n, _)| n.as_str()).collect();
            // A slot without an up dyno is on its way unless it crashed and waits out a backoff.
            let booting = (1..=wanted).any(|n| {
                let slot = format!("web.{n}");
                if up_names.contains(slot.as_str()) {
                    return false;
                }
                let backing_off = sup
                    .slots
                    .get(&(d.app.id.clone(), slot.clone()))
                    .and_then(|s| s.not_before)
                    .is_some_and(|t| t > Instant::now());
                running.contains(slot.as_str()) || !backing_off
            });
            Published {
                app_id: d.app.id.clone(),
                wanted,
                booting,
                up,
            }
        });
        self.inner.pool.publish(published.collect());
    }
}
