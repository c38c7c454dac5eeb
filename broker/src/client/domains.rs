//! `domains`, `domains:add`, `domains:remove`, `domains:clear`: the hostnames the router
//! serves an app at (its default `{app}.{router.domain}` and custom ones).

use clap::Args;
use serde_json::{json, Value};

use super::api::{seg, Api};
use super::error::CliResult;
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// `broker domains`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker domains -a myapp")]
pub struct ListArgs {
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// `broker domains:add` / `domains:remove`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker domains:add www.example.com -a myapp\n  broker domains:remove www.example.com -a myapp\n\nPoint the domain's DNS (a CNAME record) at the target domains:add prints."
)]
pub struct HostnameArgs {
    /// The hostname (`www.example.com`).
    hostname: String,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// `broker domains:clear`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker domains:clear -a myapp")]
pub struct ClearArgs {
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

fn path(app: &str) -> String {
    format!("/apps/{}/domains", seg(app))
}

fn custom(list: &Value) -> Vec<Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["kind"] == "custom")
        .cloned()
        .collect()
}

/// Lists an app's domains: hostname, kind, and the CNAME target of custom ones.
pub async fn list(args: ListArgs) -> CliResult {
    let app = args.app.resolve()?;
    let list = Api::from_login()?.get(&path(&app)).await?;
    if args.json.json {
        output::print_json(&list);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                output::text(&d["hostname"]),
                output::text(&d["kind"]),
                output::text(&d["cname"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("{app} has no domains; add one with: broker domains:add www.example.com -a {app}");
        return Ok(());
    }
    output::heading(&format!("{app} Domains"));
    output::table(&["Hostname", "Kind", "CNAME"], rows);
    Ok(())
}

/// Adds a custom domain and says what its DNS must point at.
pub async fn add(args: HostnameArgs) -> CliResult {
    let app = args.app.resolve()?;
    let added = Api::from_login()?
        .post(&path(&app), &json!({ "hostname": args.hostname }))
        .await?;
    if args.json.json {
        output::print_json(&added);
        return Ok(());
    }
    let hostname = output::text(&added["hostname"]);
    println!("Added {hostname} to {app}");
    println!(
        "Configure your DNS to point {hostname} at {} (a CNAME record)",
        output::text(&added["cname"])
    );
    Ok(())
}

/// Removes a custom domain.
pub async fn remove(args: HostnameArgs) -> CliResult {
    let app = args.app.resolve()?;
    let removed = Api::from_login()?
        .delete(&format!("{}/{}", path(&app), seg(&args.hostname)))
        .await?;
    if args.json.json {
        output::print_json(&removed);
    } else {
        println!("Removed {} from {app}", output::text(&removed["hostname"]));
    }
    Ok(())
}

/// Removes every custom domain of an app (its default hostname stays).
pub async fn clear(args: ClearArgs) -> CliResult {
    let app = args.app.resolve()?;
    let api = Api::from_login()?;
    let mut removed = Vec::new();
    for d in custom(&api.get(&path(&app)).await?) {
        let id = output::text(&d["id"]);
        removed.push(api.delete(&format!("{}/{}", path(&app), seg(&id))).await?);
    }
    if args.json.json {
        output::print_json(&Value::Array(removed));
        return Ok(());
    }
    for d in &removed {
        println!("Removed {}", output::text(&d["hostname"]));
    }
    println!("{app} has no custom domains now ({} removed)", removed.len());
    Ok(())
}
