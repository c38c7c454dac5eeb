//! `releases`, `releases:info`, `rollback`: an app's history of code and config.

use clap::Args;
use serde_json::{json, Value};

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// `broker releases`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker releases -a myapp")]
pub struct ListArgs {
    /// Show at most this many, newest first.
    #[arg(short = 'n', long = "num", value_name = "N", default_value_t = 15)]
    num: usize,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Lists releases, newest first.
pub async fn list(args: ListArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let releases = api.get(&format!("/apps/{}/releases", seg(&app))).await?;
    if args.json.json {
        output::print_json(&releases);
        return Ok(());
    }
    let mut list: Vec<&Value> = releases.as_array().into_iter().flatten().collect();
    list.sort_by_key(|r| std::cmp::Reverse(r["version"].as_i64().unwrap_or_default()));
    output::heading(&format!("{app} Releases - Current: v{}", current_version(&list)));
    let rows: Vec<Vec<String>> = list
        .into_iter()
        .take(args.num)
        .map(|r| {
            vec![
                format!("v{}", output::text(&r["version"])),
                output::text(&r["description"]),
                status_of(r),
                output::text(&r["created_at"]),
            ]
        })
        .collect();
    output::table(&["Version", "Description", "Status", "Created"], rows);
    Ok(())
}

/// The current release's version (`?` when none is).
fn current_version(list: &[&Value]) -> String {
    list.iter()
        .find(|r| r["current"] == true)
        .map(|r| output::text(&r["version"]))
        .unwrap_or_else(|| "?".into())
}

/// `succeeded (current)`, `failed`, `pending`.
fn status_of(r: &Value) -> String {
    let mut s = output::text(&r["status"]);
    if r["current"] == true {
        s.push_str(" (current)");
    }
    s
}

/// `v5` or `5` → `5`.
fn version_of(text: &str) -> CliResult<i64> {
    let digits = text.strip_prefix(['v', 'V']).unwrap_or(text);
    digits
        .parse()
        .map_err(|_| CliError::new(format!("{text} is not a release version; give one like v5 or 5")))
}

/// `broker releases:info`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker releases:info v5")]
pub struct InfoArgs {
    /// The version (`v5` or `5`); default: the current release.
    version: Option<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Shows one release: what changed, its add-ons, its config var names.
pub async fn info(args: InfoArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let release = match &args.version {
        Some(v) => {
            let n = version_of(v)?;
            api.get(&format!("/apps/{}/releases/{n}", seg(&app))).await?
        }
        None => {
            let releases = api.get(&format!("/apps/{}/releases", seg(&app))).await?;
            let list: Vec<&Value> = releases.as_array().into_iter().flatten().collect();
            list.into_iter()
                .find(|r| r["current"] == true)
                .cloned()
                .ok_or_else(|| CliError::new(format!("{app} has no current release yet")))?
        }
    };
    if args.json.json {
        output::print_json(&release);
        return Ok(());
    }
    output::heading(&format!("Release v{}", output::text(&release["version"])));
    let names = |v: &Value| -> String {
        match v {
            Value::Object(m) => m.keys().cloned().collect::<Vec<_>>().join(", "),
            Value::Array(a) => a.iter().map(output::text).collect::<Vec<_>>().join(", "),
            _ => String::new(),
        }
    };
    output::fields(&[
        ("Description", output::text(&release["description"])),
        ("Status", status_of(&release)),
        ("Add-ons", names(&release["addon_plan_names"])),
        ("Config vars", names(&release["config_vars"])),
        ("Slug", output::text(&release["slug"]["id"])),
        ("When", output::text(&release["created_at"])),
    ]);
    Ok(())
}

/// `broker rollback`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker rollback        (to the release before the current one)\n  broker rollback v3"
)]
pub struct RollbackArgs {
    /// The version to roll back to (`v3` or `3`); default: the one before the current release.
    version: Option<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Makes a new release with the code and config of an earlier one.
pub async fn rollback(args: RollbackArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let path = format!("/apps/{}/releases", seg(&app));
    let target = match &args.version {
        Some(v) => version_of(v)?,
        None => previous(&api.get(&path).await?, &app)?,
    };
    let bar = output::spinner(format!("Rolling back {app} to v{target}"));
    let result = api.post(&path, &json!({ "release": target.to_string() })).await;
    bar.finish_and_clear();
    let release = result?;
    if args.json.json {
        output::print_json(&release);
    } else {
        println!(
            "Rolled back {app} to v{target} as v{}",
            output::text(&release["version"])
        );
    }
    Ok(())
}

/// The newest release before the current one that succeeded.
fn previous(releases: &Value, app: &str) -> CliResult<i64> {
    let list: Vec<&Value> = releases.as_array().into_iter().flatten().collect();
    let current = list
        .iter()
        .find(|r| r["current"] == true)
        .and_then(|r| r["version"].as_i64())
        .ok_or_else(|| CliError::new(format!("{app} has no current release to roll back from")))?;
    list.iter()
        .filter(|r| r["status"] == "succeeded")
        .filter_map(|r| r["version"].as_i64())
        .filter(|v| *v < current)
        .max()
        .ok_or_else(|| CliError::new(format!("{app} has no release before v{current} to roll back to")))
}
