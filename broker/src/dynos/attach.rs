//! Interactive one-off dynos (`POST /apps/{app}/dynos` with `interactive: true`): how they are
//! started (a terminal of the client's size, or plain streams), handing their attachment to one
//! client, and stopping them when nobody attaches in time or the client goes.
//!
//! The runtime's attachment (the PTY master or the socket) lives in the broker process, so an
//! interactive dyno ends when the broker does; formation dynos are unaffected.

use std::collections::BTreeMap;
use std::time::Duration;

use runtime::{Attachment, ContainerIo, RuntimeError, TermSize};
use tracing::info;

use crate::catalog::clip;
use crate::error::{Error, Result};
use crate::platform::Actor;

use super::containers::{exit_of, label, runtime_err};
use super::manager::Dynos;
use super::views::RunRequest;

/// The label that marks an interactive dyno (`tty` or `pipe`).
pub(super) const INTERACTIVE: &str = "interactive";

/// An interactive dyno a client may attach to.
#[derive(Debug, Clone)]
pub struct AttachTarget {
    /// The container's id.
    pub id: String,
    /// The app's id.
    pub app_id: String,
    /// The dyno's name (`run.3`).
    pub name: String,
}

/// How a run request's dyno is connected: logged, or interactive with a terminal sized from
/// `env.LINES`/`env.COLUMNS` (80×24 by default, as Heroku's CLI sends them) unless
/// `force_no_tty`. A terminal gets `TERM=xterm` unless the request sets it.
pub(super) fn io_of(req: &RunRequest, env: &mut BTreeMap<String, String>) -> Result<ContainerIo> {
    if !req.interactive {
        if req.force_no_tty {
            return Err(Error::Unprocessable("force_no_tty needs interactive: true".into()));
        }
        return Ok(ContainerIo::Logged);
    }
    if req.attach {
        return Err(Error::Unprocessable(
            "attach (wait for the output) and interactive (attach_url) cannot be combined".into(),
        ));
    }
    if req.force_no_tty {
        return Ok(ContainerIo::Interactive { tty: None });
    }
    let dim = |key: &str, default: u16| -> Result<u16> {
        match env.get(key) {
            None => Ok(default),
            Some(v) => v.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                Error::Unprocessable(format!("env.{key} must be a number from 1 to 1000; got {}", clip(v)))
            }),
        }
    };
    let size = TermSize {
        rows: dim("LINES", 24)?,
        cols: dim("COLUMNS", 80)?,
    };
    env.entry("TERM".into()).or_insert_with(|| "xterm".into());
    Ok(ContainerIo::Interactive { tty: Some(size) })
}

impl Dynos {
    /// The interactive dyno `dyno` of `app`, when `actor` may use the app (404 otherwise, as
    /// for an app that does not exist), it is interactive (422) and still runs (410).
    pub async fn attach_target(&self, app: String, dyno: String, actor: &Actor) -> Result<AttachTarget> {
        let (a, c) = self.find_dyno(app, &dyno, actor).await?;
        let name = label(&c, "dyno").to_string();
        if label(&c, INTERACTIVE).is_empty() {
            return Err(Error::Unprocessable(format!(
                "dyno {name} is not interactive; start one with interactive: true, or read this one's output at /apps/{}/dynos/{name}/output",
                a.name
            )));
        }
        if exit_of(&c).is_some() {
            return Err(Error::Gone(format!("dyno {name} has ended")));
        }
        Ok(AttachTarget {
            id: c.id,
            app_id: a.id,
            name,
        })
    }

    /// Takes the dyno's attachment: one client per dyno (409 for the next).
    pub async fn take_attachment(&self, target: &AttachTarget) -> Result<Attachment> {
        match self.runtime()?.attach(&target.id).await {
            Ok(a) => Ok(a),
            Err(RuntimeError::Conflict(_)) => Err(Error::Conflict(format!(
                "dyno {} is already attached; a one-off dyno takes one session",
                target.name
            ))),
            Err(RuntimeError::Invalid(_)) => Err(Error::Gone(format!(
                "dyno {} can no longer be attached (the broker restarted since it started)",
                target.name
            ))),
            Err(e) => Err(runtime_err(e)),
        }
    }

    /// The dyno's exit code once it ended (`None` while it runs; 1 when it left none).
    pub async fn exit_code(&self, target: &AttachTarget) -> Result<Option<i32>> {
        let s = self.runtime()?.status(&target.id).await.map_err(runtime_err)?;
        Ok(exit_of(&s).map(|e| e.code.unwrap_or(1)))
    }

    /// The client went before the dyno ended: the dyno is stopped, as a Heroku run dyno dies
    /// with its session.
    pub async fn client_gone(&self, target: &AttachTarget) {
        let mut sup = self.inner.supervision.lock().await;
        self.stop_container(
            &mut sup,
            &target.id,
            &target.app_id,
            &target.name,
            "client disconnected",
        );
    }

    /// Stops the dyno unless a client attached within `runtime.attach_timeout_ms`.
    pub(super) fn expire_unattached(&self, target: AttachTarget) {
        let me = self.clone();
        let wait = Duration::from_millis(self.inner.settings.attach_timeout_ms);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Ok(rt) = me.runtime() else { return };
            // Taking the attachment first means no client can take it after this.
            if rt.attach(&target.id).await.is_ok() {
                info!(dyno = %target.name, "nobody attached to an interactive dyno in time");
                let mut sup = me.inner.supervision.lock().await;
                me.stop_container(&mut sup, &target.id, &target.app_id, &target.name, "nobody attached");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(interactive: bool, force_no_tty: bool, attach: bool) -> RunRequest {
        RunRequest {
            command: "bash".into(),
            attach,
            interactive,
            force_no_tty,
            time_to_live: None,
            size: None,
            env: None,
        }
    }

    #[test]
    fn terminal_size_and_term_come_from_the_environment() {
        let mut env = BTreeMap::from([
            ("LINES".to_string(), "40".to_string()),
            ("COLUMNS".into(), "120".into()),
        ]);
        let io = io_of(&req(true, false, false), &mut env).ok();
        assert_eq!(
            io,
            Some(ContainerIo::Interactive {
                tty: Some(TermSize { rows: 40, cols: 120 })
            })
        );
        assert_eq!(env.get("TERM").map(String::as_str), Some("xterm"));
        let mut env = BTreeMap::new();
        assert_eq!(
            io_of(&req(true, true, false), &mut env).ok(),
            Some(ContainerIo::Interactive { tty: None })
        );
        assert!(env.is_empty());
        assert_eq!(
            io_of(&req(false, false, true), &mut env).ok(),
            Some(ContainerIo::Logged)
        );
    }

    #[test]
    fn bad_combinations_and_sizes_are_422() {
        let mut env = BTreeMap::from([("LINES".to_string(), "lots".to_string())]);
        assert!(matches!(
            io_of(&req(true, false, false), &mut env),
            Err(Error::Unprocessable(_))
        ));
        let mut env = BTreeMap::new();
        assert!(matches!(
            io_of(&req(true, false, true), &mut env),
            Err(Error::Unprocessable(_))
        ));
        assert!(matches!(
            io_of(&req(false, true, false), &mut env),
            Err(Error::Unprocessable(_))
        ));
    }
}
