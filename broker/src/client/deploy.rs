//! `deploy`: packs a directory (honouring `.gitignore` and `.slugignore`), uploads it as a
//! build, streams the build's output as it is written, and waits until the web dynos of the
//! new release are up.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// Archives at least this big show an upload progress bar (on a terminal).
const PROGRESS_FROM: usize = 1 << 20;
/// The build's last line when it failed.
const FAILED: &str = "-----> Build failed: ";

/// `broker deploy`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker deploy\n  broker deploy --dir ./myapp -a myapp --wait 300\n\nFiles matched by .gitignore or .slugignore are left out (so is .git/)."
)]
pub struct DeployArgs {
    /// The directory to deploy (default: the current one).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Seconds to wait for the web dynos of the new release to be up.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    wait: u64,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Packs, uploads, streams the build and waits for the web dynos.
pub async fn deploy(args: DeployArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|e| CliError::new(format!("the current directory: {e}")))?,
    };
    let bar = output::spinner(format!("Packing {}", dir.display()));
    let packed = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || pack(&dir))
            .await
            .map_err(|e| CliError::new(format!("packing: {e}")))?
    };
    bar.finish_and_clear();
    let (archive, files) = packed?;
    let build = upload(&api, &app, archive, files).await?;
    // Scripts get the JSON on stdout: the output goes to stderr then.
    stream_output(&api, &build, args.json.json).await?;
    let path = format!(
        "/apps/{}/builds/{}",
        seg(&output::text(&build["app"]["id"])),
        seg(&output::text(&build["id"]))
    );
    let build = api.get(&path).await?;
    if build["status"] != "succeeded" {
        return Err(CliError::new(failure_line(&build)));
    }
    let version = build["release"]["version"].as_i64().unwrap_or_default();
    let up = wait_for_web(&api, &app, version, Duration::from_secs(args.wait)).await?;
    if args.json.json {
        output::print_json(&build);
    } else if up == 0 {
        println!("Released v{version} on {app} (no web dynos to wait for)");
    } else {
        let s = if up == 1 { "" } else { "s" };
        println!("Released v{version} on {app}: {up} web dyno{s} up");
    }
    Ok(())
}

/// The one line a failed build ends with (`the build failed: …`).
pub(super) fn failure_line(build: &Value) -> String {
    let out = output::text(&build["output"]);
    let why = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(FAILED))
        .unwrap_or("see its output above")
        .to_string();
    format!("the build failed: {why}")
}

/// A `.tar.gz` of `dir`'s files that `.gitignore` (in or outside a git repository),
/// `.git/info/exclude` and `.slugignore` leave in; and how many files it holds.
pub fn pack(dir: &Path) -> CliResult<(Vec<u8>, usize)> {
    if !dir.is_dir() {
        return Err(CliError::new(format!("{} is not a directory", dir.display())));
    }
    let walk = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .git_global(false)
        .require_git(false)
        .add_custom_ignore_filename(".slugignore")
        .filter_entry(|e| e.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let mut files = 0;
    for entry in walk {
        let entry = entry.map_err(|e| CliError::new(format!("reading {}: {e}", dir.display())))?;
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let added = if is_dir {
            tar.append_dir(rel, entry.path())
        } else {
            files += 1;
            tar.append_path_with_name(entry.path(), rel)
        };
        added.map_err(|e| CliError::new(format!("packing {}: {e}", entry.path().display())))?;
    }
    let bytes = tar
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| CliError::new(format!("packing {}: {e}", dir.display())))?;
    Ok((bytes, files))
}

/// Uploads the archive as an asynchronous build; the `pending` build.
pub(super) async fn upload(api: &Api, app: &str, archive: Vec<u8>, files: usize) -> CliResult<Value> {
    let len = archive.len();
    let bar = if len >= PROGRESS_FROM && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(len as u64);
        let style = ProgressStyle::with_template("Uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    } else {
        output::spinner(format!("Uploading {files} files ({})", human(len)))
    };
    let shown = bar.clone();
    let chunks: Vec<Vec<u8>> = archive.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let body = futures::stream::iter(chunks).map(move |c| {
        shown.inc(c.len() as u64);
        Ok::<_, std::io::Error>(c)
    });
    let request = api
        .request(Method::POST, &format!("/apps/{}/builds", seg(app)))
        .header(reqwest::header::CONTENT_TYPE, "application/gzip")
        .header(reqwest::header::CONTENT_LENGTH, len)
        .header("Prefer", "respond-async")
        .body(reqwest::Body::wrap_stream(body));
    let build = api.json(request).await;
    bar.finish_and_clear();
    let build = build?;
    if !std::io::stderr().is_terminal() {
        return Ok(build);
    }
    eprintln!("Uploaded {files} files ({})", human(len));
    Ok(build)
}

/// Copies the build's output to the terminal as it is written, until the build ends.
pub(super) async fn stream_output(api: &Api, build: &Value, to_stderr: bool) -> CliResult {
    let path = format!(
        "/apps/{}/builds/{}/output",
        seg(&output::text(&build["app"]["id"])),
        seg(&output::text(&build["id"]))
    );
    let response = api.send(api.request(Method::GET, &path)).await?;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::new(format!("reading the build's output: {e}")))?;
        let written = if to_stderr {
            std::io::stderr()
                .write_all(&chunk)
                .and_then(|_| std::io::stderr().flush())
        } else {
            std::io::stdout()
                .write_all(&chunk)
                .and_then(|_| std::io::stdout().flush())
        };
        written.map_err(|e| CliError::new(format!("writing the build's output: {e}")))?;
    }
    Ok(())
}

/// Waits until the formation's web dynos run `version` and are up; how many are.
async fn wait_for_web(api: &Api, app: &str, version: i64, wait: Duration) -> CliResult<usize> {
    let formation = api.get(&format!("/apps/{}/formation", seg(app))).await?;
    let wanted = formation
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["type"] == "web")
        .and_then(|f| f["quantity"].as_u64())
        .unwrap_or(0) as usize;
    if wanted == 0 {
        return Ok(0);
    }
    let bar = output::spinner(format!("Waiting for {wanted} web dyno(s) on v{version}"));
    let deadline = Instant::now() + wait;
    loop {
        let dynos = api.get(&format!("/apps/{}/dynos", seg(app))).await;
        let dynos = match dynos {
            Ok(d) => d,
            Err(e) => {
                bar.finish_and_clear();
                return Err(e);
            }
        };
        let web: Vec<&Value> = dynos
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["type"] == "web" && d["release"]["version"].as_i64() == Some(version))
            .collect();
        let up = web.iter().filter(|d| d["state"] == "up").count();
        if up >= wanted {
            bar.finish_and_clear();
            return Ok(up);
        }
        if let Some(d) = web.iter().find(|d| d["state"] == "crashed") {
            bar.finish_and_clear();
            let name = output::text(&d["name"]);
            return Err(CliError::new(format!(
                "v{version} is released but {name} crashed; see `broker logs --dyno {name} -a {app}`"
            )));
        }
        if Instant::now() >= deadline {
            bar.finish_and_clear();
            return Err(CliError::new(format!(
                "v{version} is released but only {up} of {wanted} web dynos were up after {}s; see `broker ps -a {app}` and `broker logs -a {app}`",
                wait.as_secs()
            )));
        }
        bar.set_message(format!("Waiting for web dynos on v{version}: {up} of {wanted} up"));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `12.3 KiB`.
fn human(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1 << 20 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
    }
}
