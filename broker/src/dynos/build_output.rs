//! A build's output as it is written: readers of `GET /apps/{app}/builds/{build}/output` follow
//! the live text of a build this broker runs, and read the stored row otherwise (a finished
//! build, or one another broker runs, whose row they poll until it ends).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::watch;

use crate::access::{app_for, Role};
use crate::catalog::clip;
use crate::db::models::Build;
use crate::error::{Error, Result};
use crate::ids::AppId;
use crate::platform::Actor;

use super::manager::{Dynos, LiveOutput};

/// How often a reader polls the row of a build another broker runs.
const POLL: Duration = Duration::from_millis(250);

/// The writing end of a build's output: appends to the live text (and so to its readers) and
/// keeps the whole text for the build row.
pub(super) struct BuildLog {
    dynos: Dynos,
    build_id: String,
    tx: watch::Sender<LiveOutput>,
    /// Bytes of the release phase's output written so far.
    phase: AtomicUsize,
}

impl BuildLog {
    /// Appends `text`.
    pub(super) fn write(&self, text: &str) {
        self.tx.send_modify(|o| o.text.push_str(text));
    }

    /// Appends `line` and a newline.
    pub(super) fn line(&self, line: &str) {
        self.write(&format!("{line}\n"));
    }

    /// Appends `text`, `bytes` more bytes of the release phase's output.
    pub(super) fn phase_output(&self, text: &str, bytes: usize) {
        self.phase.fetch_add(bytes, Ordering::Relaxed);
        if !text.is_empty() {
            self.write(text);
        }
    }

    /// A new container's output follows (the build's, then the release phase's): counts from 0.
    pub(super) fn start_phase(&self) {
        self.phase.store(0, Ordering::Relaxed);
    }

    /// Bytes of the release phase's output written so far.
    pub(super) fn phase_bytes(&self) -> usize {
        self.phase.load(Ordering::Relaxed)
    }

    /// Everything written so far.
    pub(super) fn text(&self) -> String {
        self.tx.borrow().text.clone()
    }

    /// Ends the output (after the row holds it): readers see the end, new readers read the row.
    pub(super) fn finish(self) {
        self.tx.send_modify(|o| o.done = true);
    }
}

impl Drop for BuildLog {
    fn drop(&mut self) {
        self.tx.send_modify(|o| o.done = true);
        if let Ok(mut live) = self.dynos.inner.live_builds.lock() {
            live.remove(&self.build_id);
        }
    }
}

impl Dynos {
    /// Starts the live output of build `build_id`.
    pub(super) fn build_log(&self, build_id: &str) -> BuildLog {
        let (tx, _) = watch::channel(LiveOutput::default());
        if let Ok(mut live) = self.inner.live_builds.lock() {
            live.insert(build_id.to_string(), tx.clone());
        }
        BuildLog {
            dynos: self.clone(),
            build_id: build_id.to_string(),
            tx,
            phase: AtomicUsize::new(0),
        }
    }

    /// The output of one build of `app`, from its first byte, as it is written; the stream ends
    /// when the build does (at once for a finished build).
    pub async fn build_output(&self, app: String, id: String, actor: &Actor) -> Result<BoxStream<'static, String>> {
        let actor = actor.clone();
        // Subscribe before reading the row: a build that ends in between is seen ending.
        let live = self
            .inner
            .live_builds
            .lock()
            .ok()
            .and_then(|l| l.get(&id).map(watch::Sender::subscribe));
        let db = self.inner.db.clone();
        let b = db
            .run(move |c| {
                let a = app_for(c, &app, &actor, Role::Collaborator)?;
                Build::find_of_app(c, &AppId::from(a.id.as_str()), &id)?
                    .ok_or_else(|| Error::NotFound(format!("build {} does not exist", clip(&id))))
            })
            .await?;
        if let Some(rx) = live {
            return Ok(follow_live(rx));
        }
        if b.status != "pending" {
            return Ok(stream::iter([b.output]).boxed());
        }
        Ok(follow_row(self.clone(), b))
    }
}

/// The live text from its start, chunk by chunk, until the build ends.
fn follow_live(rx: watch::Receiver<LiveOutput>) -> BoxStream<'static, String> {
    stream::unfold((rx, 0usize, false), |(mut rx, sent, ended)| async move {
        if ended {
            return None;
        }
        loop {
            let (chunk, done) = {
                let o = rx.borrow_and_update();
                (o.text.get(sent..).unwrap_or_default().to_string(), o.done)
            };
            if !chunk.is_empty() || done {
                let next = sent + chunk.len();
                return Some((chunk, (rx, next, done)));
            }
            // A sender dropped without `done` also ends the stream.
            if rx.changed().await.is_err() {
                return None;
            }
        }
    })
    .filter(|c| futures::future::ready(!c.is_empty()))
    .boxed()
}

/// The stored output of a build another broker runs, polled until the build ends.
fn follow_row(dynos: Dynos, first: Build) -> BoxStream<'static, String> {
    let start = first.output.clone();
    let rest = stream::unfold((dynos, first, start.len()), |(dynos, b, sent)| async move {
        if b.status != "pending" {
            return None;
        }
        tokio::time::sleep(POLL).await;
        let id = b.id.clone();
        let now = dynos.inner.db.run(move |c| Build::get(c, &id)).await.ok()?;
        let chunk = now.output.get(sent..).unwrap_or_default().to_string();
        let next = sent + chunk.len();
        Some((chunk, (dynos, now, next)))
    });
    stream::iter([start])
        .chain(rest)
        .filter(|c| futures::future::ready(!c.is_empty()))
        .boxed()
}
