//! `addons`, `addons:create`, `addons:destroy`, `addons:attach`, `addons:detach`,
//! `addons:info`, `addons:services`, `addons:plans`: Heroku's add-on commands over the platform
//! API (`/apps/{app}/addons`, `/addon-attachments`, `/addon-services`).

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use super::api::{seg, Api};
use super::config::{latest_release, sentence};
use super::error::{CliError, CliResult};
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// How often a provisioning add-on is looked at again.
const POLL: Duration = Duration::from_millis(500);

/// `broker addons`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker addons -a myapp\n  broker addons          (every add-on you can see, outside an app's directory)"
)]
pub struct ListArgs {
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Lists an app's add-ons (owned or attached) or, with no app named, every visible add-on.
pub async fn list(args: ListArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.try_resolve()?;
    let (addons, attachments) = match &app {
        Some(app) => (
            api.get(&format!("/apps/{}/addons", seg(app))).await?,
            api.get(&format!("/apps/{}/addon-attachments", seg(app))).await?,
        ),
        None => (api.get("/addons").await?, api.get("/addon-attachments").await?),
    };
    if args.json.json {
        output::print_json(&addons);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items(&addons)
        .map(|a| {
            let names: Vec<String> = items(&attachments)
                .filter(|x| x["addon"]["id"] == a["id"])
                .map(|x| match app {
                    Some(_) => output::text(&x["name"]),
                    None => format!("{}::{}", output::text(&x["app"]["name"]), output::text(&x["name"])),
                })
                .collect();
            vec![
                output::text(&a["name"]),
                output::text(&a["plan"]),
                output::text(&a["state"]),
                names.join(", "),
                output::text(&a["app"]["name"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        let on = app.map(|a| format!(" on {a}")).unwrap_or_default();
        println!("No add-ons{on}. Create one with: broker addons:create postgresql");
        return Ok(());
    }
    output::table(&["Add-on", "Plan", "State", "Attached as", "Owning app"], rows);
    Ok(())
}

/// `broker addons:create`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker addons:create postgresql -a myapp\n  broker addons:create redis:shared --as CACHE\n  broker addons:create kafka --name events"
)]
pub struct CreateArgs {
    /// `service` (its default plan) or `service:plan`; `broker addons:services` lists them.
    plan: String,
    /// The attachment's name, which prefixes its config vars (`--as CACHE` gives CACHE_URL).
    #[arg(long = "as", value_name = "NAME")]
    as_name: Option<String>,
    /// The add-on's own name (default: one is made up).
    #[arg(long, value_name = "ADDON")]
    name: Option<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Creates an add-on; when provisioning goes on after the answer (202), waits with a spinner
/// until it is provisioned and attached, or failed.
pub async fn create(args: CreateArgs) -> CliResult {
    let app = args.app.resolve()?;
    let api = Api::from_login()?;
    let mut body = json!({ "plan": args.plan });
    if let Some(n) = &args.as_name {
        body["attachment"] = json!({ "name": n });
    }
    if let Some(n) = &args.name {
        body["name"] = json!(n);
    }
    let bar = output::spinner(format!("Creating {} on {app}", args.plan));
    let result = async {
        let before = latest_release(&api, &app).await?;
        let created = api.post(&format!("/apps/{}/addons", seg(&app)), &body).await?;
        if created["state"] == "provisioning" {
            bar.set_message(format!("Provisioning {} on {app}", output::text(&created["name"])));
        }
        let addon = wait_attached(&api, &app, created).await?;
        let after = latest_release(&api, &app).await?;
        Ok::<_, CliError>((addon, before, after))
    }
    .await;
    bar.finish_and_clear();
    let (addon, before, after) = result?;
    if args.json.json {
        output::print_json(&addon.0);
        return Ok(());
    }
    let vars: Vec<String> = strings(&addon.0["config_vars"]);
    println!(
        "Created {} as {}; {}{}",
        output::text(&addon.0["name"]),
        addon.1,
        set_phrase(&vars, "set"),
        release_tail(before, after)
    );
    Ok(())
}

/// Waits until a new add-on is provisioned and its attachment to `app` attached; returns the
/// add-on's view and the attachment's name. A failed provision is the error.
async fn wait_attached(api: &Api, app: &str, mut addon: Value) -> CliResult<(Value, String)> {
    let id = output::text(&addon["id"]);
    let name = output::text(&addon["name"]);
    loop {
        match addon["state"].as_str() {
            Some("failed") => {
                return Err(CliError::new(format!(
                    "provisioning {name} failed; remove it with: broker addons:destroy {name} -a {app} --confirm {app}"
                )))
            }
            Some("provisioned") => {
                let attachments = api.get(&format!("/apps/{}/addon-attachments", seg(app))).await?;
                let mine = items(&attachments).find(|x| x["addon"]["id"] == id.as_str());
                if let Some(x) = mine.filter(|x| x["state"] == "attached") {
                    let as_name = output::text(&x["name"]);
                    // Read again: the vars are listed once the attachment is attached.
                    let addon = api.get(&format!("/apps/{}/addons/{}", seg(app), seg(&id))).await?;
                    return Ok((addon, as_name));
                }
            }
            _ => {}
        }
        tokio::time::sleep(POLL).await;
        addon = api.get(&format!("/apps/{}/addons/{}", seg(app), seg(&id))).await?;
    }
}

/// `broker addons:destroy`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker addons:destroy postgresql-abc123 -a myapp --confirm myapp")]
pub struct DestroyArgs {
    /// The add-on: its name or id, or its attachment name (`DATABASE`) or service on --app.
    addon: String,
    /// The owning app's name again, to confirm: destroying deletes the add-on's data.
    #[arg(long, value_name = "APP")]
    confirm: Option<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Destroys an add-on (detached everywhere, its data deleted) after `--confirm APP`.
pub async fn destroy(args: DestroyArgs) -> CliResult {
    let api = Api::from_login()?;
    let addon = find_addon(&api, args.app.try_resolve()?, &args.addon).await?;
    let name = output::text(&addon["name"]);
    let owner = output::text(&addon["app"]["name"]);
    if args.confirm.as_deref() != Some(owner.as_str()) {
        return Err(CliError::new(format!(
            "this destroys {name} and its data; to go on, run: broker addons:destroy {name} -a {owner} --confirm {owner}"
        )));
    }
    let bar = output::spinner(format!("Destroying {name} on {owner}"));
    let result = async {
        let before = latest_release(&api, &owner).await?;
        let gone = api
            .delete(&format!(
                "/apps/{}/addons/{}",
                seg(&owner),
                seg(&output::text(&addon["id"]))
            ))
            .await?;
        let after = latest_release(&api, &owner).await?;
        Ok::<_, CliError>((gone, before, after))
    }
    .await;
    bar.finish_and_clear();
    let (gone, before, after) = result?;
    if args.json.json {
        output::print_json(&gone);
    } else {
        let vars = strings(&addon["config_vars"]);
        println!(
            "Destroyed {name}; {}{}",
            set_phrase(&vars, "unset"),
            release_tail(before, after)
        );
    }
    Ok(())
}

/// `broker addons:attach`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker addons:attach postgresql-abc123 -a otherapp --as SHARED_DB")]
pub struct AttachArgs {
    /// The add-on's name or id.
    addon: String,
    /// The attachment's name, which prefixes its config vars (default: the service's).
    #[arg(long = "as", value_name = "NAME")]
    as_name: Option<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Attaches an existing add-on to the app, with credentials of its own.
pub async fn attach(args: AttachArgs) -> CliResult {
    let app = args.app.resolve()?;
    let api = Api::from_login()?;
    let mut body = json!({ "addon": args.addon, "app": app });
    if let Some(n) = &args.as_name {
        body["name"] = json!(n);
    }
    let bar = output::spinner(format!("Attaching {} to {app}", args.addon));
    let result = async {
        let before = latest_release(&api, &app).await?;
        let attachment = api.post("/addon-attachments", &body).await?;
        let addon = api
            .get(&format!(
                "/apps/{}/addons/{}",
                seg(&app),
                seg(&output::text(&attachment["addon"]["id"]))
            ))
            .await?;
        let after = latest_release(&api, &app).await?;
        Ok::<_, CliError>((attachment, addon, before, after))
    }
    .await;
    bar.finish_and_clear();
    let (attachment, addon, before, after) = result?;
    if args.json.json {
        output::print_json(&attachment);
        return Ok(());
    }
    let prefix = format!("{}_", output::text(&attachment["name"]));
    let vars: Vec<String> = strings(&addon["config_vars"])
        .into_iter()
        .filter(|v| v.starts_with(&prefix))
        .collect();
    println!(
        "Attached {} to {app} as {}; {}{}",
        output::text(&attachment["addon"]["name"]),
        output::text(&attachment["name"]),
        set_phrase(&vars, "set"),
        release_tail(before, after)
    );
    Ok(())
}

/// `broker addons:detach`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker addons:detach SHARED_DB -a otherapp")]
pub struct DetachArgs {
    /// The attachment: its name on the app (`SHARED_DB`) or id.
    attachment: String,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Detaches an add-on from the app: its credentials stop working and its vars are removed.
pub async fn detach(args: DetachArgs) -> CliResult {
    let app = args.app.resolve()?;
    let api = Api::from_login()?;
    let attachments = api.get(&format!("/apps/{}/addon-attachments", seg(&app))).await?;
    let found = items(&attachments)
        .find(|x| x["name"] == args.attachment.as_str() || x["id"] == args.attachment.as_str())
        .cloned();
    let Some(attachment) = found else {
        let names: Vec<String> = items(&attachments).map(|x| output::text(&x["name"])).collect();
        return Err(CliError::new(format!(
            "{app} has no attachment {}; its attachments: {}",
            args.attachment,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    let vars_path = format!("/apps/{}/config-vars", seg(&app));
    let bar = output::spinner(format!("Detaching {} from {app}", args.attachment));
    let result = async {
        let before_vars = keys(&api.get(&vars_path).await?);
        let before = latest_release(&api, &app).await?;
        let gone = api
            .delete(&format!("/addon-attachments/{}", seg(&output::text(&attachment["id"]))))
            .await?;
        let after = latest_release(&api, &app).await?;
        // The app's vars that went are the ones this attachment had set.
        let after_vars = keys(&api.get(&vars_path).await?);
        let vars: Vec<String> = before_vars.difference(&after_vars).cloned().collect();
        Ok::<_, CliError>((gone, vars, before, after))
    }
    .await;
    bar.finish_and_clear();
    let (gone, vars, before, after) = result?;
    if args.json.json {
        output::print_json(&gone);
    } else {
        println!(
            "Detached {} ({}) from {app}; {}{}",
            output::text(&attachment["name"]),
            output::text(&attachment["addon"]["name"]),
            set_phrase(&vars, "unset"),
            release_tail(before, after)
        );
    }
    Ok(())
}

/// `broker addons:info`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  broker addons:info postgresql-abc123\n  broker addons:info DATABASE -a myapp")]
pub struct InfoArgs {
    /// The add-on: its name or id, or its attachment name (`DATABASE`) or service on --app.
    addon: String,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Shows an add-on: plan, state, owning app, where it is attached, the vars it sets.
pub async fn info(args: InfoArgs) -> CliResult {
    let api = Api::from_login()?;
    let addon = find_addon(&api, args.app.try_resolve()?, &args.addon).await?;
    let all = api.get("/addon-attachments").await?;
    let attachments: Vec<Value> = items(&all)
        .filter(|x| x["addon"]["id"] == addon["id"])
        .cloned()
        .collect();
    if args.json.json {
        output::print_json(&json!({ "addon": addon, "attachments": attachments }));
        return Ok(());
    }
    output::heading(&output::text(&addon["name"]));
    let attached: Vec<String> = attachments
        .iter()
        .map(|x| format!("{}::{}", output::text(&x["app"]["name"]), output::text(&x["name"])))
        .collect();
    output::fields(&[
        ("Id", output::text(&addon["id"])),
        ("Plan", output::text(&addon["plan"])),
        ("State", output::text(&addon["state"])),
        ("Owning app", output::text(&addon["app"]["name"])),
        ("Attachments", attached.join(", ")),
        ("Config vars", strings(&addon["config_vars"]).join(", ")),
        ("Created", output::text(&addon["created_at"])),
        ("Updated", output::text(&addon["updated_at"])),
    ]);
    Ok(())
}

/// `broker addons:services`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker addons:services")]
pub struct ServicesArgs {
    #[command(flatten)]
    json: JsonFlag,
}

/// Lists the catalog's services.
pub async fn services(args: ServicesArgs) -> CliResult {
    let services = Api::from_login()?.get("/addon-services").await?;
    if args.json.json {
        output::print_json(&services);
        return Ok(());
    }
    let rows = items(&services)
        .map(|s| vec![output::text(&s["name"]), output::text(&s["description"])])
        .collect();
    output::table(&["Service", "Description"], rows);
    Ok(())
}

/// `broker addons:plans`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker addons:plans postgresql")]
pub struct PlansArgs {
    /// The service (`postgresql`).
    service: String,
    #[command(flatten)]
    json: JsonFlag,
}

/// Lists a service's plans; the default one (what a bare service name takes) is marked.
pub async fn plans(args: PlansArgs) -> CliResult {
    let plans = Api::from_login()?
        .get(&format!("/addon-services/{}/plans", seg(&args.service)))
        .await?;
    if args.json.json {
        output::print_json(&plans);
        return Ok(());
    }
    let rows = items(&plans)
        .map(|p| {
            let default = if p["default"] == true { "default" } else { "" };
            vec![
                output::text(&p["name"]),
                default.to_string(),
                output::text(&p["description"]),
            ]
        })
        .collect();
    output::table(&["Plan", "Default", "Description"], rows);
    Ok(())
}

/// An add-on named on `app` (name, id, attachment or service name) or, with no app, by name
/// or id among every add-on the caller can see.
pub async fn find_addon(api: &Api, app: Option<String>, name: &str) -> CliResult<Value> {
    if let Some(app) = app {
        return api.get(&format!("/apps/{}/addons/{}", seg(&app), seg(name))).await;
    }
    let all = api.get("/addons").await?;
    let found = items(&all).find(|a| a["name"] == name || a["id"] == name).cloned();
    found.ok_or_else(|| {
        CliError::new(format!(
            "no add-on {name} among those you can see; to name it by its attachment (DATABASE) pass --app APP"
        ))
    })
}

/// The elements of a JSON array (none for anything else).
fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

/// The keys of a JSON object.
fn keys(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A JSON array of strings as strings.
fn strings(list: &Value) -> Vec<String> {
    items(list).map(output::text).collect()
}

/// `DATABASE_URL set`, `REDIS_URL and REDIS_PREFIX unset`, `no config vars set`.
fn set_phrase(vars: &[String], verb: &str) -> String {
    if vars.is_empty() {
        format!("no config vars {verb}")
    } else {
        format!("{} {verb}", sentence(vars))
    }
}

/// ` (v5)` when a release was made between the two versions.
fn release_tail(before: Option<i64>, after: Option<i64>) -> String {
    match after {
        Some(v) if after > before => format!(" (v{v})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_name_the_vars_and_the_new_release() {
        assert_eq!(set_phrase(&["DATABASE_URL".into()], "set"), "DATABASE_URL set");
        assert_eq!(
            set_phrase(&["REDIS_PREFIX".into(), "REDIS_URL".into()], "unset"),
            "REDIS_PREFIX and REDIS_URL unset"
        );
        assert_eq!(set_phrase(&[], "set"), "no config vars set");
        assert_eq!(release_tail(Some(4), Some(5)), " (v5)");
        assert_eq!(release_tail(Some(5), Some(5)), "");
        assert_eq!(release_tail(None, Some(1)), " (v1)");
    }
}
