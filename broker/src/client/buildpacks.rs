//! `buildpacks`, `buildpacks:set`, `buildpacks:add`, `buildpacks:remove`, `buildpacks:clear`:
//! the buildpacks an app's builds run, in order (Heroku's `buildpack-installations`).

use clap::Args;
use serde_json::{json, Value};

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// `broker buildpacks`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker buildpacks -a myapp")]
pub struct ListArgs {
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// `broker buildpacks:set` / `buildpacks:add` / `buildpacks:remove`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker buildpacks:set heroku/python -a myapp\n  broker buildpacks:add https://example.com/my-buildpack.tar.gz --index 1\n  broker buildpacks:remove heroku/nodejs\n\nBuilt-ins: heroku/python, heroku/nodejs, heroku/procfile; or an absolute path under the broker's builds.buildpack_paths, or an http(s) URL of a .tar.gz."
)]
pub struct ChangeArgs {
    /// The buildpack.
    buildpack: String,
    /// Its place, from 1 (`set` replaces that one; `add` inserts there; default: the end).
    #[arg(short, long)]
    index: Option<usize>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// `broker buildpacks:clear`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker buildpacks:clear -a myapp")]
pub struct ClearArgs {
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

fn path(app: &str) -> String {
    format!("/apps/{}/buildpack-installations", seg(app))
}

async fn current(api: &Api, app: &str) -> CliResult<Vec<String>> {
    let list = api.get(&path(app)).await?;
    Ok(list
        .as_array()
        .map(|l| l.iter().map(|b| output::text(&b["buildpack"]["url"])).collect())
        .unwrap_or_default())
}

async fn put(api: &Api, app: &str, urls: Vec<String>, json_out: bool) -> CliResult {
    let updates: Vec<Value> = urls.iter().map(|u| json!({ "buildpack": u })).collect();
    let list = api.put(&path(app), &json!({ "updates": updates })).await?;
    show(app, &list, json_out);
    Ok(())
}

fn show(app: &str, list: &Value, json_out: bool) {
    if json_out {
        output::print_json(list);
        return;
    }
    let items = list.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("{app} has no buildpacks set: builds detect heroku/python, heroku/nodejs or heroku/procfile");
        return;
    }
    output::heading(&format!("{app} Buildpacks"));
    for (i, b) in items.iter().enumerate() {
        println!("{}. {}", i + 1, output::text(&b["buildpack"]["url"]));
    }
}

/// Lists an app's buildpacks.
pub async fn list(args: ListArgs) -> CliResult {
    let app = args.app.resolve()?;
    let list = Api::from_login()?.get(&path(&app)).await?;
    show(&app, &list, args.json.json);
    Ok(())
}

/// Sets the buildpack at `--index` (default 1; with no index the list becomes this one alone).
pub async fn set(args: ChangeArgs) -> CliResult {
    let (api, app) = (Api::from_login()?, args.app.resolve()?);
    let mut urls = current(&api, &app).await?;
    match args.index {
        None => urls = vec![args.buildpack],
        Some(i) if (1..=urls.len() + 1).contains(&i) => {
            if i > urls.len() {
                urls.push(args.buildpack);
            } else {
                urls[i - 1] = args.buildpack;
            }
        }
        Some(i) => {
            return Err(CliError::new(format!(
                "--index {i} is out of range 1..{}",
                urls.len() + 1
            )))
        }
    }
    put(&api, &app, urls, args.json.json).await
}

/// Inserts a buildpack at `--index` (default: last).
pub async fn add(args: ChangeArgs) -> CliResult {
    let (api, app) = (Api::from_login()?, args.app.resolve()?);
    let mut urls = current(&api, &app).await?;
    if urls.contains(&args.buildpack) {
        return Err(CliError::new(format!("{} is already set on {app}", args.buildpack)));
    }
    let at = args.index.unwrap_or(urls.len() + 1);
    if !(1..=urls.len() + 1).contains(&at) {
        return Err(CliError::new(format!(
            "--index {at} is out of range 1..{}",
            urls.len() + 1
        )));
    }
    urls.insert(at - 1, args.buildpack);
    put(&api, &app, urls, args.json.json).await
}

/// Removes a buildpack.
pub async fn remove(args: ChangeArgs) -> CliResult {
    let (api, app) = (Api::from_login()?, args.app.resolve()?);
    let urls = current(&api, &app).await?;
    if !urls.contains(&args.buildpack) {
        return Err(CliError::new(format!("{} is not set on {app}", args.buildpack)));
    }
    let kept = urls.into_iter().filter(|u| *u != args.buildpack).collect();
    put(&api, &app, kept, args.json.json).await
}

/// Clears an app's buildpacks (builds detect among the built-ins again).
pub async fn clear(args: ClearArgs) -> CliResult {
    let (api, app) = (Api::from_login()?, args.app.resolve()?);
    put(&api, &app, Vec::new(), args.json.json).await
}
