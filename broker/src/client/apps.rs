//! `apps`, `apps:create`, `apps:info`, `apps:rename`, `apps:destroy`.

use clap::Args;
use serde_json::{json, Value};

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::git;
use super::output::{self, JsonFlag};
use super::target::{self, AppFlag};

/// `broker apps`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker apps")]
pub struct ListArgs {
    #[command(flatten)]
    json: JsonFlag,
}

/// Lists the apps the caller can see.
pub async fn list(args: ListArgs) -> CliResult {
    let apps = Api::from_login()?.get("/apps").await?;
    if args.json.json {
        output::print_json(&apps);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = apps
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| vec![output::text(&a["name"]), owner_of(a), output::text(&a["created_at"])])
        .collect();
    if rows.is_empty() {
        println!("You have no apps. Create one with: broker apps:create NAME");
        return Ok(());
    }
    output::table(&["Name", "Owner", "Created"], rows);
    Ok(())
}

fn owner_of(app: &Value) -> String {
    match app["team"]["name"].as_str() {
        Some(team) => format!("team {team}"),
        None => output::text(&app["owner"]),
    }
}

/// `broker apps:create`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker apps:create myapp\n  broker apps:create myapp --team platform\n\nIn a git work tree it also adds the git remote `broker`: then `git push broker main` deploys."
)]
pub struct CreateArgs {
    /// The app's name (default: one is made up).
    name: Option<String>,
    /// Create the app for this team.
    #[arg(long)]
    team: Option<String>,
    /// Do not write the .broker-app file in the current directory, nor add the `broker` git
    /// remote (in a git work tree).
    #[arg(long)]
    no_remote: bool,
    #[command(flatten)]
    json: JsonFlag,
}

/// Creates an app and, unless `--no-remote`, names it in `./.broker-app`.
pub async fn create(args: CreateArgs) -> CliResult {
    let api = Api::from_login()?;
    let mut body = json!({});
    if let Some(name) = &args.name {
        body["name"] = json!(name);
    }
    if let Some(team) = &args.team {
        body["team"] = json!(team);
    }
    let bar = output::spinner("Creating app");
    let app = api.post("/apps", &body).await;
    bar.finish_and_clear();
    let app = app?;
    let name = output::text(&app["name"]);
    let mut remote = None;
    if !args.no_remote {
        let cwd = std::env::current_dir().map_err(|e| CliError::new(format!("the current directory: {e}")))?;
        target::write_app_file(&cwd, &name)?;
        if git::in_work_tree(&cwd) {
            remote = Some(git::add_remote(&cwd, api.url(), &name, git::REMOTE)?);
        }
    }
    if args.json.json {
        output::print_json(&app);
    } else {
        println!("Created {name}");
        if let Some(url) = remote {
            println!("Git remote {} → {url}", git::REMOTE);
        }
    }
    Ok(())
}

/// `broker apps:info`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker apps:info -a myapp")]
pub struct InfoArgs {
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Shows an app with its add-ons, collaborators and dynos.
pub async fn info(args: InfoArgs) -> CliResult {
    let api = Api::from_login()?;
    let name = args.app.resolve()?;
    let app = api.get(&format!("/apps/{}", seg(&name))).await?;
    let addons = api.get(&format!("/apps/{}/addons", seg(&name))).await?;
    let dynos = api.get(&format!("/apps/{}/dynos", seg(&name))).await?;
    if args.json.json {
        output::print_json(&json!({ "app": app, "addons": addons, "dynos": dynos }));
        return Ok(());
    }
    output::heading(&output::text(&app["name"]));
    let list = |v: &Value, key: &str| -> String {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|x| output::text(&x[key]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    output::fields(&[
        ("Id", output::text(&app["id"])),
        ("Owner", owner_of(&app)),
        ("Add-ons", list(&addons, "name")),
        ("Dynos", list(&dynos, "name")),
        ("Web URL", output::text(&app["web_url"])),
        ("Created", output::text(&app["created_at"])),
    ]);
    Ok(())
}

/// `broker apps:rename`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker apps:rename newname -a myapp")]
pub struct RenameArgs {
    /// The new name.
    new_name: String,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Renames an app; a `.broker-app` naming the old name is updated.
pub async fn rename(args: RenameArgs) -> CliResult {
    let api = Api::from_login()?;
    let old = args.app.resolve()?;
    let app = api
        .patch(&format!("/apps/{}", seg(&old)), &json!({ "name": args.new_name }))
        .await?;
    let cwd = std::env::current_dir().map_err(|e| CliError::new(format!("the current directory: {e}")))?;
    if target::from_app_file(&cwd)?.as_deref() == Some(old.as_str()) && cwd.join(target::APP_FILE).exists() {
        target::write_app_file(&cwd, &output::text(&app["name"]))?;
    }
    if args.json.json {
        output::print_json(&app);
    } else {
        println!("Renamed {old} to {}", output::text(&app["name"]));
    }
    Ok(())
}

/// `broker apps:destroy`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker apps:destroy -a myapp --confirm myapp")]
pub struct DestroyArgs {
    #[command(flatten)]
    app: AppFlag,
    /// The app's name again, to confirm: destroying deletes its add-ons and their data.
    #[arg(long, value_name = "APP")]
    confirm: Option<String>,
    #[command(flatten)]
    json: JsonFlag,
}

/// Destroys an app after `--confirm NAME`.
pub async fn destroy(args: DestroyArgs) -> CliResult {
    let api = Api::from_login()?;
    let name = args.app.resolve()?;
    if args.confirm.as_deref() != Some(name.as_str()) {
        return Err(CliError::new(format!(
            "this destroys {name} with its add-ons and their data; to go on, run: broker apps:destroy -a {name} --confirm {name}"
        )));
    }
    let bar = output::spinner(format!("Destroying {name}"));
    let result = api
        .delete(&format!("/apps/{}?confirm={}", seg(&name), seg(&name)))
        .await;
    bar.finish_and_clear();
    let app = result?;
    if args.json.json {
        output::print_json(&app);
    } else {
        println!("Destroyed {name}");
    }
    Ok(())
}
