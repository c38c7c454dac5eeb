//! Compiling a slug: the app's buildpacks run in a sandbox like a dyno's (unprivileged, memory,
//! process and time limits, the app's config vars in `ENV_DIR`, never the broker's
//! environment), on the app's own directory bound at `/app`, so that virtual environments and
//! absolute paths stay valid in the dynos; then the process types (the buildpacks' defaults
//! under the Procfile's) and the slug's size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runtime::{ContainerIo, ContainerSpec, Limits, Mount};

use crate::buildpacks::{self, default_process_types, Buildpack, Sources, BUILTINS, DRIVER};
use crate::db::models::{App, BuildpackInstallation};
use crate::error::{Error, Result};
use crate::platform::{latest_release, open_config};
use crate::slugs::{self, ProcessTypes};

use super::build_output::BuildLog;
use super::containers::{exit_of, runtime_err};
use super::launch::MAX_OUTPUT;
use super::manager::Dynos;

/// The exit code of the build driver after it printed its own `Build failed` line.
const DRIVER_FAILED: i32 = 3;

/// A build's outcome short of a broker error: the process types, or why it failed.
pub(super) type Compiled = std::result::Result<ProcessTypes, String>;

impl Dynos {
    /// Runs the app's buildpacks on `work/app` (the archive as unpacked), its output going to
    /// `log`; `Err(reason)` when the build failed.
    pub(super) async fn compile(&self, a: &App, build_id: &str, work: &Path, log: &BuildLog) -> Result<Compiled> {
        let started = Instant::now();
        let app_dir = work.join("app");
        let dir = app_dir.clone();
        let gone = tokio::task::spawn_blocking(move || slugs::apply_slugignore(&dir))
            .await
            .map_err(|e| Error::internal("applying .slugignore", e))?;
        match gone {
            Ok(0) => {}
            Ok(n) => log.line(&format!("-----> Removed {n} paths matched by .slugignore")),
            Err(e) => return Ok(Err(e.public_message())),
        }
        let (config, chosen) = self.build_inputs(&a.id).await?;
        let packs = match self.buildpacks_for(&chosen, &config, work).await {
            Ok(p) => p,
            Err(e) => return Ok(Err(e.public_message())),
        };
        let detect = if chosen.is_empty() && !config.contains_key("BUILDPACK_URL") {
            "first"
        } else {
            "all"
        };
        let spec = self.build_spec(a, build_id, work, &packs, detect, &config)?;
        let rt = self.runtime()?.clone();
        let id = spec.id.clone();
        rt.start(spec).await.map_err(runtime_err)?;
        let deadline = Instant::now() + Duration::from_millis(self.inner.builds.timeout_ms);
        let ended = self.follow_exit(&id, deadline, log).await;
        let out = rt.output(&id, 0, MAX_OUTPUT).await.map_err(runtime_err);
        let _ = rt.remove(&id).await;
        let (ended, out) = (ended?, out?);
        if let Some(rest) = out.bytes.get(log.phase_bytes()..) {
            log.write(&String::from_utf8_lossy(rest));
        }
        if !log.text().ends_with('\n') {
            log.write("\n");
        }
        let exit = exit_of(&ended).cloned();
        let verdict = match exit {
            Some(e) if e.code == Some(0) => None,
            Some(e) if e.oom_killed => Some(format!(
                "the build ran out of memory ({} MiB, builds.memory_mb)",
                self.inner.builds.memory_mb
            )),
            Some(e) if e.stopped => Some(format!(
                "the build took longer than {} s (builds.timeout_ms)",
                self.inner.builds.timeout_ms / 1000
            )),
            Some(e) if e.code == Some(DRIVER_FAILED) => return Ok(Err(String::new())),
            Some(e) => Some(format!("the build exited with code {:?}", e.code)),
            None => Some("the build's sandbox was lost".into()),
        };
        if let Some(why) = verdict {
            return Ok(Err(why));
        }
        let (max, work) = (self.inner.settings.max_slug_bytes, work.to_path_buf());
        let names: Vec<String> = packs.iter().map(|p| p.name.clone()).collect();
        let result = tokio::task::spawn_blocking(move || finish(&work, &names, max))
            .await
            .map_err(|e| Error::internal("reading the build's results", e))?;
        if let Ok((types, size)) = &result {
            log.line(&format!("-----> Slug compiled: {}", super::builds::human_size(*size)));
            let listed: Vec<&str> = types.keys().map(String::as_str).collect();
            log.line(&format!("-----> Process types: {}", listed.join(", ")));
            log.line(&format!("-----> Build took {:.1} s", started.elapsed().as_secs_f64()));
        }
        Ok(result.map(|(types, _)| types))
    }

    /// Removes the build caches of apps that are gone, and build work directories left by a
    /// broker that died (older than a build may run). Returns how many went.
    pub(super) async fn collect_build_dirs(&self) -> Result<usize> {
        let apps: std::collections::HashSet<String> = self
            .inner
            .db
            .run(|c| Ok(App::all(c)?.into_iter().map(|a| a.id).collect()))
            .await?;
        let live: std::collections::HashSet<String> = self
            .inner
            .live_builds
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let (data, age) = (
            self.inner.data_dir.clone(),
            Duration::from_millis(self.inner.builds.timeout_ms + self.inner.settings.release_phase_timeout_ms),
        );
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let caches = std::fs::read_dir(data.join("build-cache"))
                .into_iter()
                .flatten()
                .flatten();
            for e in caches {
                let name = e.file_name().to_string_lossy().to_string();
                if !apps.contains(&name) && std::fs::remove_dir_all(e.path()).is_ok() {
                    removed += 1;
                }
            }
            for e in std::fs::read_dir(data.join("builds")).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|a| a >= age);
                if old && !live.contains(&name) && std::fs::remove_dir_all(e.path()).is_ok() {
                    removed += 1;
                }
            }
            removed
        })
        .await
        .map_err(|e| Error::internal("collecting build directories", e))
    }

    /// The app's config (for `ENV_DIR` and `BUILDPACK_URL`) and its buildpack installations.
    async fn build_inputs(&self, app_id: &str) -> Result<(BTreeMap<String, String>, Vec<String>)> {
        let (sealer, app_id) = (self.inner.sealer.clone(), app_id.to_string());
        self.inner
            .db
            .run(move |c| {
                let config = latest_release(c, &app_id)?
                    .map(|r| open_config(&sealer, &r))
                    .transpose()?
                    .unwrap_or_default();
                let chosen = BuildpackInstallation::of_app(c, &app_id)?
                    .into_iter()
                    .map(|b| b.url)
                    .collect();
                Ok((config, chosen))
            })
            .await
    }

    /// The buildpacks a build runs: the app's installations, else `BUILDPACK_URL`, else the
    /// built-ins (of which the first that detects runs).
    async fn buildpacks_for(
        &self,
        chosen: &[String],
        config: &BTreeMap<String, String>,
        work: &Path,
    ) -> Result<Vec<Buildpack>> {
        let root = self.inner.data_dir.join("buildpacks");
        let install = root.clone();
        tokio::task::spawn_blocking(move || buildpacks::install_builtins(&install))
            .await
            .map_err(|e| Error::internal("writing the built-in buildpacks", e))??;
        let names: Vec<String> = if !chosen.is_empty() {
            chosen.to_vec()
        } else if let Some(url) = config.get("BUILDPACK_URL") {
            vec![url.clone()]
        } else {
            BUILTINS.iter().map(|b| b.name.to_string()).collect()
        };
        let sources = Sources {
            builtin_root: &root,
            settings: &self.inner.builds,
        };
        let mut out = Vec::new();
        for n in &names {
            out.push(buildpacks::fetch(n, &sources, work, &self.inner.http).await?);
        }
        Ok(out)
    }

    /// The sandbox of a build: the app at `/app`, the cache, `ENV_DIR`, `/output` and the
    /// buildpacks, with the build limits and nothing of the broker's environment.
    fn build_spec(
        &self,
        a: &App,
        build_id: &str,
        work: &Path,
        packs: &[Buildpack],
        detect: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<ContainerSpec> {
        let io = |what: &str, p: &Path, e: std::io::Error| Error::internal(format!("{what} {}", p.display()), e);
        let cache = self.inner.data_dir.join("build-cache").join(&a.id);
        let (env_dir, output) = (work.join("env"), work.join("output"));
        for d in [&cache, &env_dir, &output] {
            std::fs::create_dir_all(d).map_err(|e| io("creating", d, e))?;
        }
        for (k, v) in config.iter().filter(|(k, _)| env_file_name(k)) {
            let path = env_dir.join(k);
            std::fs::write(&path, v).map_err(|e| io("writing", &path, e))?;
        }
        let mut mounts = vec![
            mount(&cache, "/cache", true),
            mount(&env_dir, "/env", true),
            mount(&output, "/output", true),
        ];
        let mut env = BTreeMap::from([
            ("PATH".to_string(), "/usr/local/bin:/usr/bin:/bin".to_string()),
            ("HOME".into(), "/app".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("STACK".into(), "broker-1".into()),
            ("BUILD_ID".into(), build_id.to_string()),
            ("BUILDPACK_COUNT".into(), packs.len().to_string()),
            ("BUILDPACK_DETECT".into(), detect.to_string()),
        ]);
        for (i, p) in packs.iter().enumerate() {
            mounts.push(mount(&p.dir, &format!("/buildpacks/{}", i + 1), false));
            env.insert(format!("BUILDPACK_NAME_{}", i + 1), p.name.clone());
        }
        if !self.inner.builds.pip_index_url.is_empty() {
            env.insert("PIP_INDEX_URL".into(), self.inner.builds.pip_index_url.clone());
        }
        if !self.inner.builds.npm_registry.is_empty() {
            env.insert("npm_config_registry".into(), self.inner.builds.npm_registry.clone());
        }
        let deadline = crate::db::now_ms() + self.inner.builds.timeout_ms as i64;
        let labels = BTreeMap::from([
            ("app".to_string(), a.id.clone()),
            ("kind".into(), "build".into()),
            ("dyno".into(), "build".into()),
            ("type".into(), "build".into()),
            ("build".into(), build_id.to_string()),
            ("deadline_ms".into(), deadline.to_string()),
        ]);
        Ok(ContainerSpec {
            id: uuid::Uuid::new_v4().to_string(),
            labels,
            hostname: "build".into(),
            command: DRIVER.into(),
            env,
            app_source: work.join("app"),
            share_app: true,
            mounts,
            limits: Limits {
                memory_bytes: self.inner.builds.memory_mb << 20,
                max_processes: self.inner.builds.max_processes,
            },
            io: ContainerIo::Logged,
            network: self.build_network(),
        })
    }
}

fn mount(source: &Path, target: &str, writable: bool) -> Mount {
    Mount {
        source: source.to_path_buf(),
        target: target.into(),
        writable,
    }
}

/// Config var names that are safe file names in `ENV_DIR` (`[A-Za-z_][A-Za-z0-9_]*`).
fn env_file_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && k.len() <= 255
}

/// After the sandbox ended: the process types (each buildpack's defaults, later ones over
/// earlier ones, the Procfile over all) and the slug's size, or why the build fails.
fn finish(work: &Path, names: &[String], max_slug: u64) -> std::result::Result<(ProcessTypes, u64), String> {
    let output = work.join("output");
    let ran = read_small(&output.join("ran")).unwrap_or_default();
    let mut types = ProcessTypes::new();
    for i in ran.split_whitespace().filter_map(|i| i.parse::<usize>().ok()) {
        let name = names.get(i.wrapping_sub(1)).map_or("?", String::as_str);
        if let Some(yaml) = read_small(&output.join(format!("release-{i}.yml"))) {
            types.extend(default_process_types(name, &yaml).map_err(|e| e.public_message())?);
        }
    }
    let app: PathBuf = work.join("app");
    if let Some(procfile) = slugs::read_process_types(&app).map_err(|e| e.public_message())? {
        types.extend(procfile);
    }
    if types.keys().all(|t| t == "release") {
        return Err(
            "the app has no process types: add a Procfile (its buildpacks set no default process types)".into(),
        );
    }
    let size = slugs::tree_size(&app);
    if size > max_slug {
        return Err(format!(
            "the compiled slug is {}, over the limit of {} (runtime.max_slug_bytes)",
            super::builds::human_size(size),
            super::builds::human_size(max_slug)
        ));
    }
    Ok((types, size))
}

/// A regular file of at most 64 KiB written by the build (never through a symlink: the
/// sandbox wrote it), as text.
fn read_small(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return None;
    }
    std::fs::read_to_string(path).ok()
}
