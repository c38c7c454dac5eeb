//! The router's log lines, gathered on each lane and handed to the apps' logs in batches (a
//! batch when 64 lines are waiting, and every 20 ms): one lock of the shared log per batch
//! instead of one per request, which the lanes would otherwise contend for. A tail sees a
//! router line at most 20 ms late. Outside a lane (no flusher there) lines go at once.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use crate::dynos::{Dynos, LogLine};

use super::lanes;

/// Lines that make a batch.
const BATCH: usize = 64;
/// How often a lane hands over what it has.
const EVERY: Duration = Duration::from_millis(20);

thread_local! {
    static PENDING: RefCell<Vec<LogLine>> = const { RefCell::new(Vec::new()) };
}

/// Adds a router line to `app_id`'s log.
pub fn write(dynos: &Dynos, app_id: &Arc<str>, text: String) {
    let line = Dynos::router_line(app_id, text);
    if !lanes::in_lane() {
        dynos.push_lines(vec![line]);
        return;
    }
    let full = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.push(line);
        p.len() >= BATCH
    });
    if full {
        flush(dynos);
    }
}

/// Hands this lane's waiting lines over.
pub fn flush(dynos: &Dynos) {
    let lines = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if !lines.is_empty() {
        dynos.push_lines(lines);
    }
}

/// Flushes this lane's lines every [`EVERY`] until `stop`, then once more.
pub async fn flushing(dynos: Dynos, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => flush(&dynos),
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    flush(&dynos);
}
