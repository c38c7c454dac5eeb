//! `access`, `access:add`, `access:remove`: who may use an app (its owner or team, and its
//! collaborators: `/apps/{app}/collaborators`).

use clap::Args;
use serde_json::{json, Value};

use super::api::{seg, Api};
use super::error::CliResult;
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// `broker access`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker access -a myapp")]
pub struct ListArgs {
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Lists the app's owner (or team) and collaborators.
pub async fn list(args: ListArgs) -> CliResult {
    let name = args.app.resolve()?;
    let api = Api::from_login()?;
    let app = api.get(&format!("/apps/{}", seg(&name))).await?;
    let collaborators = api.get(&format!("/apps/{}/collaborators", seg(&name))).await?;
    if args.json.json {
        output::print_json(&json!({
            "owner": app["owner"],
            "team": app["team"],
            "collaborators": collaborators,
        }));
        return Ok(());
    }
    let mut rows = vec![vec![output::text(&app["owner"]), "owner".to_string()]];
    if let Some(team) = app["team"]["name"].as_str() {
        rows.push(vec![
            format!("team {team}"),
            "owner (admins) / collaborator (members)".into(),
        ]);
    }
    rows.extend(
        collaborators
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| vec![output::text(&c["user"]["id"]), output::text(&c["role"])]),
    );
    output::heading(&format!("{name} Access"));
    output::table(&["User", "Role"], rows);
    Ok(())
}

/// `broker access:add`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker access:add bob -a myapp")]
pub struct AddArgs {
    /// The person (a token subject, as `broker auth:whoami` shows it).
    user: String,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Makes a person a collaborator on the app (its owner only).
pub async fn add(args: AddArgs) -> CliResult {
    let name = args.app.resolve()?;
    let api = Api::from_login()?;
    let added = api
        .post(
            &format!("/apps/{}/collaborators", seg(&name)),
            &json!({ "user": args.user }),
        )
        .await?;
    print(
        &added,
        args.json,
        format!("Added {} to {name} as a collaborator", args.user),
    );
    Ok(())
}

/// `broker access:remove`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker access:remove bob -a myapp")]
pub struct RemoveArgs {
    /// The person (or the collaborator's id).
    user: String,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Takes a collaborator's access away (the owner, or the collaborator themselves).
pub async fn remove(args: RemoveArgs) -> CliResult {
    let name = args.app.resolve()?;
    let api = Api::from_login()?;
    let removed = api
        .delete(&format!("/apps/{}/collaborators/{}", seg(&name), seg(&args.user)))
        .await?;
    print(&removed, args.json, format!("Removed {} from {name}", args.user));
    Ok(())
}

fn print(answer: &Value, json: JsonFlag, sentence: String) {
    if json.json {
        output::print_json(answer);
    } else {
        println!("{sentence}");
    }
}
