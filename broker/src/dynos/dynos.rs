//! Dynos: listing an app's dynos, restarting and stopping them, one-off runs and their output.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use runtime::ContainerStatus;
use serde_json::json;

use crate::access::{app_for, Role};
use crate::catalog::clip;
use crate::db::models::{App, Release};
use crate::db::{now_ms, Db};
use crate::error::{Error, Result};
use crate::ids::AppId;
use crate::platform::{current_release, iso, open_config, Actor, NameRef};
use crate::provisioning::audit;

use super::containers::{dyno_order, exit_of, is_step, label, port_of, release_of, runtime_err};
use super::launch::{size, Launch, MAX_OUTPUT, SIZES};
use super::manager::Dynos;
use super::plan::Supervision;
use super::views::{DynoView, OutputView, ReleaseRef, RunRequest};

impl Dynos {
    async fn app_and_containers(&self, app: String, actor: &Actor) -> Result<(App, Vec<ContainerStatus>)> {
        self.runtime()?;
        let a = self.app_for(app, actor).await?;
        let rt = self.supervised_runtime()?.clone();
        let list = rt
            .list()
            .await
            .map_err(runtime_err)?
            .into_iter()
            .filter(|c| label(c, "app") == a.id && !is_step(c))
            .collect();
        Ok((a, list))
    }

    /// An app's dynos.
    pub async fn list(&self, app: String, actor: &Actor) -> Result<Vec<DynoView>> {
        let (a, list) = self.app_and_containers(app, actor).await?;
        let releases = self.release_ids(&a.id).await?;
        let sup = self.inner.supervision.lock().await;
        let mut views: Vec<DynoView> = current(&list, &sup.stopping)
            .iter()
            .map(|c| dyno_view(&a, c, &sup, &releases))
            .collect();
        views.sort_by_key(|v| dyno_order(&v.name));
        Ok(views)
    }

    pub(super) async fn find_dyno(&self, app: String, dyno: &str, actor: &Actor) -> Result<(App, ContainerStatus)> {
        let (a, list) = self.app_and_containers(app, actor).await?;
        let sup = self.inner.supervision.lock().await;
        current(&list, &sup.stopping)
            .into_iter()
            .find(|c| c.id == dyno || label(c, "dyno") == dyno)
            .map(|c| (a.clone(), c))
            .ok_or_else(|| Error::NotFound(format!("app {} has no dyno {}", a.name, clip(dyno))))
    }

    /// One dyno, by name or id.
    pub async fn get(&self, app: String, dyno: String, actor: &Actor) -> Result<DynoView> {
        let (a, c) = self.find_dyno(app, &dyno, actor).await?;
        let releases = self.release_ids(&a.id).await?;
        let sup = self.inner.supervision.lock().await;
        Ok(dyno_view(&a, &c, &sup, &releases))
    }

    /// Restarts one dyno (or, with `None`, all of the app's formation dynos): they are stopped
    /// and the dyno manager starts them again at once.
    pub async fn restart(&self, app: String, dyno: Option<String>, actor: &Actor) -> Result<()> {
        let (a, list) = self.app_and_containers(app, actor).await?;
        let mut sup = self.inner.supervision.lock().await;
        let targets: Vec<ContainerStatus> = current(&list, &sup.stopping)
            .into_iter()
            .filter(|c| match &dyno {
                Some(d) => c.id == *d || label(c, "dyno") == d,
                None => label(c, "kind") == "formation",
            })
            .collect();
        if let (Some(d), true) = (&dyno, targets.is_empty()) {
            return Err(Error::NotFound(format!("app {} has no dyno {}", a.name, clip(d))));
        }
        for c in &targets {
            if let Some(slot) = sup.slots.get_mut(&(a.id.clone(), label(c, "dyno").to_string())) {
                slot.not_before = None;
            }
            self.stop_in_background(&mut sup, c, "restart");
        }
        Ok(())
    }

    /// Stops a dyno. A formation dyno comes back (the formation still wants it), as on Heroku;
    /// a one-off dyno stays down.
    pub async fn stop(&self, app: String, dyno: String, actor: &Actor) -> Result<()> {
        let (_, c) = self.find_dyno(app, &dyno, actor).await?;
        let mut sup = self.inner.supervision.lock().await;
        self.stop_in_background(&mut sup, &c, "stop");
        Ok(())
    }

    /// Starts a one-off dyno (`run.N`) on the current release; with `attach`, waits for it to
    /// end and includes its output; with `interactive`, answers at once and the dyno waits for
    /// its client (`attach_url` is then the dyno's attach path, made absolute by the caller).
    pub async fn run_one_off(&self, app: String, req: RunRequest, actor: &Actor) -> Result<DynoView> {
        let rt = self.runtime()?.clone();
        let (ttl, sz, mut extra) = validate_run(&req)?;
        let io = super::attach::io_of(&req, &mut extra)?;
        let (sealer, actor2) = (self.inner.sealer.clone(), actor.clone());
        let (a, r, mut config) = self
            .inner
            .db
            .run(move |c| {
                let a = app_for(c, &app, &actor2, Role::Collaborator)?;
                let r = current_release(c, &a.id)?;
                let r = r.filter(|r| r.slug_id.is_some()).ok_or_else(|| {
                    Error::Unprocessable(format!("app {} has no code yet; push a build first", a.name))
                })?;
                let config = open_config(&sealer, &r)?;
                Ok((a, r, config))
            })
            .await?;
        config.extend(extra);
        let (name, status) = self.start_run(&a, &r, &req.command, (sz, io), ttl, config).await?;
        audit_async(
            &self.inner.db,
            actor,
            "platform.dyno.run",
            &a.id,
            json!({ "dyno": name }),
        )
        .await?;
        let releases = self.release_ids(&a.id).await?;
        if io.is_interactive() {
            self.expire_unattached(super::attach::AttachTarget {
                id: status.id.clone(),
                app_id: a.id.clone(),
                name: name.clone(),
            });
        }
        if !req.attach {
            let sup = self.inner.supervision.lock().await;
            let mut view = dyno_view(&a, &status, &sup, &releases);
            if io.is_interactive() {
                view.attach_url = Some(format!("/apps/{}/dynos/{name}/attach", a.name));
            }
            return Ok(view);
        }
        let status = self
            .wait_for_exit(&status.id, Instant::now() + Duration::from_secs(ttl))
            .await?;
        let out = rt.output(&status.id, 0, MAX_OUTPUT).await.map_err(runtime_err)?;
        let sup = self.inner.supervision.lock().await;
        let mut view = dyno_view(&a, &status, &sup, &releases);
        view.output = Some(String::from_utf8_lossy(&out.bytes).into_owned());
        Ok(view)
    }

    /// Starts `run.N`, the app's next run number, on release `r`.
    async fn start_run(
        &self,
        a: &App,
        r: &Release,
        command: &str,
        (sz, io): (super::launch::Size, runtime::ContainerIo),
        ttl: u64,
        config: BTreeMap<String, String>,
    ) -> Result<(String, ContainerStatus)> {
        let rt = self.supervised_runtime()?.clone();
        // The run number is chosen and the container started under the supervision lock, so
        // that two runs never get the same name.
        let mut sup = self.inner.supervision.lock().await;
        let list = rt.list().await.map_err(runtime_err)?;
        let n = list
            .iter()
            .filter(|c| label(c, "app") == a.id && label(c, "kind") == "run")
            .filter_map(|c| label(c, "dyno").strip_prefix("run.")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let name = format!("run.{n}");
        let status = self
            .launch(Launch {
                app_id: &AppId::from(a.id.as_str()),
                name: &name,
                kind: "run",
                process_type: "run",
                release: r.version,
                size: sz,
                command,
                slug_id: r.slug_id.as_deref().unwrap_or_default(),
                config,
                port: None,
                ttl_ms: Some(ttl * 1000),
                extra_label: None,
                io,
            })
            .await?;
        sup.offsets.insert(status.id.clone(), (0, Vec::new()));
        sup.up.insert(status.id.clone(), now_ms());
        Ok((name, status))
    }

    /// A dyno's output (the first MiB), its state and exit code.
    pub async fn output(&self, app: String, dyno: String, actor: &Actor) -> Result<OutputView> {
        let (a, c) = self.find_dyno(app, &dyno, actor).await?;
        let out = self
            .runtime()?
            .output(&c.id, 0, MAX_OUTPUT)
            .await
            .map_err(runtime_err)?;
        let sup = self.inner.supervision.lock().await;
        let view = dyno_view(&a, &c, &sup, &HashMap::new());
        Ok(OutputView {
            name: view.name,
            state: view.state,
            exit_code: view.exit_code,
            output: String::from_utf8_lossy(&out.bytes).into_owned(),
        })
    }
}

/// Checks a run request: a command, a time to live of 1 s to a day, a known size and valid
/// variable names. Returns the time to live (s), the size and the extra variables.
fn validate_run(req: &RunRequest) -> Result<(u64, super::launch::Size, BTreeMap<String, String>)> {
    if req.command.trim().is_empty() {
        return Err(Error::BadRequest("command must not be empty".into()));
    }
    let ttl = req.time_to_live.unwrap_or(3600);
    if !(1..=86_400).contains(&ttl) {
        return Err(Error::Unprocessable(format!(
            "time_to_live must be 1 to 86400 seconds; got {ttl}"
        )));
    }
    let sz = size(req.size.as_deref().unwrap_or(SIZES[0].name))?;
    let extra = req.env.clone().unwrap_or_default();
    for k in extra.keys() {
        crate::platform::validate_var_name(k)?;
    }
    Ok((ttl, sz, extra))
}

/// A dyno as the API shows it.
fn dyno_view(a: &App, c: &ContainerStatus, sup: &Supervision, releases: &HashMap<i32, String>) -> DynoView {
    let exit = exit_of(c);
    let state = match exit {
        None if sup.up.contains_key(&c.id) => "up",
        None => "starting",
        Some(e) if label(c, "kind") == "formation" && !e.stopped => "crashed",
        Some(e) if label(c, "kind") == "run" && !e.stopped && e.code != Some(0) => "crashed",
        Some(_) => "down",
    };
    let name = label(c, "dyno").to_string();
    let updated = exit
        .map(|e| e.at_ms)
        .or_else(|| sup.up.get(&c.id).copied())
        .unwrap_or(c.started_at_ms);
    DynoView {
        id: c.id.clone(),
        process_type: label(c, "type").to_string(),
        state: state.into(),
        release: ReleaseRef {
            id: releases.get(&release_of(c)).cloned(),
            version: release_of(c),
        },
        command: c.command.clone(),
        size: label(c, "size").to_string(),
        port: port_of(c),
        exit_code: exit.and_then(|e| e.code),
        restarts: sup.slots.get(&(a.id.clone(), name.clone())).map_or(0, |s| s.crashes),
        attach_url: None,
        app: NameRef {
            id: a.id.clone(),
            name: a.name.clone(),
        },
        name,
        created_at: iso(c.started_at_ms),
        updated_at: iso(updated),
        output: None,
    }
}

/// The current dyno of each slot and the app's one-off dynos.
fn current(list: &[ContainerStatus], stopping: &HashSet<String>) -> Vec<ContainerStatus> {
    let mut by_name: BTreeMap<String, &ContainerStatus> = BTreeMap::new();
    for c in list {
        let name = label(c, "dyno").to_string();
        // Per name: a running container that is not being retired beats an exited one,
        // then the newest.
        let rank = |x: &ContainerStatus| (x.running() && !stopping.contains(&x.id), x.started_at_ms);
        match by_name.get(&name) {
            Some(old) if rank(old) >= rank(c) => {}
            _ => {
                by_name.insert(name, c);
            }
        }
    }
    by_name.into_values().cloned().collect()
}

/// Writes an audit entry about an app.
async fn audit_async(
    db: &Db,
    actor: &Actor,
    action: &'static str,
    app_id: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let (meta, target) = (actor.meta(), format!("app/{app_id}"));
    db.write(move |c| audit(c, &meta, action, target.clone(), detail.clone()))
        .await
}
