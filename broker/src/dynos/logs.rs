//! Logs: each app's last lines in memory, live tails, and the supervisor's reading of the
//! dynos' output into them.

use std::collections::{HashMap, HashSet, VecDeque};

use runtime::ContainerStatus;
use tokio::sync::broadcast;

use crate::catalog::clip;
use crate::db::models::{App, Formation};
use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::platform::Actor;

use super::containers::{dyno_order, is_step, label, runtime_err};
use super::manager::Dynos;
use super::plan::Supervision;
use super::views::{LogLine, LogQuery};

/// Lines of log kept per app (Heroku keeps 1,500).
const LOG_LINES: usize = 1500;
/// Longest log line; longer output without a newline is cut.
const MAX_LINE: usize = 64 * 1024;

impl Dynos {
    /// Appends a line to an app's log and to live tails.
    pub(super) fn log(&self, app_id: &str, source: &'static str, dyno: &str, text: String) {
        self.push_lines(vec![LogLine {
            app_id: app_id.into(),
            at_ms: now_ms(),
            source,
            dyno: std::borrow::Cow::Owned(dyno.to_string()),
            text,
        }]);
    }

    /// One of the router's lines for an app's log (source `heroku`, dyno `router`, as
    /// Heroku's router writes them), stamped now.
    pub fn router_line(app_id: &std::sync::Arc<str>, text: String) -> LogLine {
        LogLine {
            app_id: app_id.clone(),
            at_ms: now_ms(),
            source: "heroku",
            dyno: std::borrow::Cow::Borrowed("router"),
            text,
        }
    }

    /// Appends lines (of any apps) to the logs and live tails, under one lock.
    pub fn push_lines(&self, lines: Vec<LogLine>) {
        // Only live tails need a copy (the router logs every request: keep this cheap).
        if self.inner.log_tx.receiver_count() > 0 {
            for l in &lines {
                let _ = self.inner.log_tx.send(l.clone());
            }
        }
        if let Ok(mut logs) = self.inner.logs.lock() {
            for line in lines {
                store(&mut logs, line);
            }
        }
    }

    /// The app's buffered log lines matching `query` and, for tails, a receiver of new lines.
    pub async fn logs(
        &self,
        app: String,
        query: &LogQuery,
        tail: bool,
        actor: &Actor,
    ) -> Result<(App, Vec<String>, Option<broadcast::Receiver<LogLine>>)> {
        let a = self.app_for(app, actor).await?;
        if let Some(d) = &query.dyno {
            self.check_dyno(&a, d).await?;
        }
        // Subscribe before reading the buffer so that no line falls between the two.
        let rx = tail.then(|| self.inner.log_tx.subscribe());
        let n = query.lines.unwrap_or(100).min(LOG_LINES);
        let lines = self
            .inner
            .logs
            .lock()
            .map(|logs| {
                let buf: Vec<String> = logs
                    .get(&a.id)
                    .map(|b| b.iter().filter(|l| query.matches(l)).map(LogLine::render).collect())
                    .unwrap_or_default();
                buf[buf.len().saturating_sub(n)..].to_vec()
            })
            .unwrap_or_default();
        Ok((a, lines, rx))
    }

    /// A 404 naming the app's dynos unless `dyno` is `router` or names one of them (running, or
    /// wanted by the formation), a process type of its formation, or a dyno the buffered log
    /// still has lines of (a one-off run that ended).
    async fn check_dyno(&self, a: &App, dyno: &str) -> Result<()> {
        // The router's lines, as on Heroku (`--dyno router`), even before the first request.
        if dyno == "router" {
            return Ok(());
        }
        let matches = |name: &str| name == dyno || name.split('.').next() == Some(dyno);
        let logged = self
            .inner
            .logs
            .lock()
            .map(|logs| logs.get(&a.id).is_some_and(|b| b.iter().any(|l| matches(&l.dyno))))
            .unwrap_or(false);
        if logged {
            return Ok(());
        }
        let app_id = a.id.clone();
        let formation = self.inner.db.run(move |c| Formation::of_app(c, &app_id)).await?;
        if formation.iter().any(|f| f.process_type == dyno) {
            return Ok(());
        }
        // The dynos the formation wants count, started or not (a tail may begin before them).
        let mut names: Vec<String> = formation
            .iter()
            .flat_map(|f| (1..=f.quantity).map(move |n| format!("{}.{n}", f.process_type)))
            .collect();
        if let Some(rt) = &self.inner.runtime {
            let list = rt.list().await.map_err(runtime_err)?;
            names.extend(
                list.iter()
                    .filter(|c| label(c, "app") == a.id && !is_step(c))
                    .map(|c| label(c, "dyno").to_string()),
            );
        }
        if names.iter().any(|n| matches(n)) {
            return Ok(());
        }
        names.sort_by_key(|n| dyno_order(n));
        names.dedup();
        let have = if names.is_empty() {
            "it has no dynos".to_string()
        } else {
            format!("its dynos are {}", names.join(", "))
        };
        Err(Error::NotFound(format!(
            "no dyno {} on app {}; {have}",
            clip(dyno),
            a.name
        )))
    }

    /// Reads new output of every container into the app logs.
    pub(super) async fn collect_logs(&self, sup: &mut Supervision, list: &[ContainerStatus]) {
        let Ok(rt) = self.runtime() else { return };
        let first = !sup.first_tick_done;
        // A release phase's output is logged whole when it ends (`phases.rs`). An interactive
        // session is the person's own terminal (what they type, what they `cat`): it goes to
        // them only, never to the app's log and its readers, as on Heroku.
        for c in list
            .iter()
            .filter(|c| !is_step(c) && label(c, super::attach::INTERACTIVE).is_empty())
        {
            let entry = sup.offsets.entry(c.id.clone()).or_insert((0, Vec::new()));
            loop {
                let Ok(out) = rt.output(&c.id, entry.0, 256 * 1024).await else {
                    break;
                };
                if out.bytes.is_empty() {
                    break;
                }
                entry.0 = out.next_offset;
                if first {
                    // Output from before this broker started was already published (or
                    // missed); it stays readable through /output.
                    continue;
                }
                entry.1.extend_from_slice(&out.bytes);
                while let Some(pos) = entry.1.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = entry.1.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    self.log(label(c, "app"), "app", label(c, "dyno"), text);
                }
                // Output without newlines is cut into lines of at most 64 KiB.
                while entry.1.len() >= MAX_LINE {
                    let line: Vec<u8> = entry.1.drain(..MAX_LINE).collect();
                    self.log(
                        label(c, "app"),
                        "app",
                        label(c, "dyno"),
                        String::from_utf8_lossy(&line).into_owned(),
                    );
                }
            }
            // A container that ended flushes its last partial line.
            if !c.running() && !entry.1.is_empty() {
                let text = String::from_utf8_lossy(&entry.1).into_owned();
                entry.1.clear();
                self.log(label(c, "app"), "app", label(c, "dyno"), text);
            }
        }
        let ids: HashSet<&String> = list.iter().map(|c| &c.id).collect();
        sup.offsets.retain(|id, _| ids.contains(id));
        sup.first_tick_done = true;
    }
}

/// Keeps `line` in its app's buffer, the oldest line going when it is full.
fn store(logs: &mut HashMap<String, VecDeque<LogLine>>, line: LogLine) {
    if let Some(buf) = logs.get_mut(&*line.app_id) {
        if buf.len() >= LOG_LINES {
            buf.pop_front();
        }
        buf.push_back(line);
    } else {
        logs.insert(line.app_id.to_string(), VecDeque::from([line]));
    }
}
