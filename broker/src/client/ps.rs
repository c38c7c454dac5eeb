//! `ps`, `ps:scale`, `ps:restart`, `ps:stop`, `ps:type` (alias `ps:resize`): the app's dynos
//! and its formation.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{json, Value};

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::output::{self, JsonFlag};
use super::target::AppFlag;
use crate::dynos::SIZES;

/// `broker ps`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker ps -a myapp")]
pub struct PsArgs {
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Lists the dynos, grouped by process type, with their state and age.
pub async fn ps(args: PsArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let dynos = api.get(&format!("/apps/{}/dynos", seg(&app))).await?;
    if args.json.json {
        output::print_json(&dynos);
        return Ok(());
    }
    let mut groups: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for d in dynos.as_array().into_iter().flatten() {
        groups.entry(output::text(&d["type"])).or_default().push(d);
    }
    if groups.is_empty() {
        println!("No dynos on {app}");
        return Ok(());
    }
    let now = chrono::Utc::now();
    // Web first, then the other types by name, one-off runs last (as Heroku lists them).
    let mut order: Vec<&String> = groups.keys().collect();
    order.sort_by_key(|t| (t.as_str() != "web", t.as_str() == "run", t.to_string()));
    for (i, kind) in order.into_iter().enumerate() {
        let mut list = groups[kind].clone();
        list.sort_by_key(|d| dyno_number(&output::text(&d["name"])));
        if i > 0 {
            println!();
        }
        if kind == "run" {
            output::heading(&format!("run: one-off processes ({})", list.len()));
        } else {
            let first = list[0];
            output::heading(&format!(
                "{kind} ({}): {} ({})",
                output::text(&first["size"]),
                output::text(&first["command"]),
                list.len()
            ));
        }
        for d in list {
            let mut line = format!(
                "{}: {} {}",
                output::text(&d["name"]),
                output::text(&d["state"]),
                age(&output::text(&d["updated_at"]), now)
            );
            if kind == "run" {
                line.push_str(&format!(": {}", output::text(&d["command"])));
            }
            println!("{line}");
        }
    }
    Ok(())
}

/// `web.10` sorts after `web.9`.
fn dyno_number(name: &str) -> u64 {
    name.rsplit('.').next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX)
}

/// `2026-11-29 23:50:01 (~ 3m ago)` from an ISO 8601 time.
fn age(iso: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(iso) else {
        return iso.to_string();
    };
    let secs = (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
    let ago = match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    };
    format!("{} (~ {ago} ago)", t.format("%Y-%m-%d %H:%M:%S"))
}

/// `broker ps:scale`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker ps:scale web=2 worker=1\n  broker ps:scale web=2:standard-2x\n  broker ps:scale   (shows the formation)"
)]
pub struct ScaleArgs {
    /// `TYPE=QUANTITY[:SIZE]` changes.
    #[arg(value_name = "TYPE=QTY[:SIZE]")]
    changes: Vec<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Scales process types (and may resize them).
pub async fn scale(args: ScaleArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let path = format!("/apps/{}/formation", seg(&app));
    if args.changes.is_empty() {
        let formation = api.get(&path).await?;
        return show_formation(&formation, args.json.json, false);
    }
    let mut updates = Vec::new();
    for change in &args.changes {
        let (kind, rest) = split_change(change, "TYPE=QUANTITY[:SIZE], like web=2 or web=2:standard-2x")?;
        let (qty, size) = match rest.split_once(':') {
            Some((q, s)) => (q, Some(s)),
            None => (rest, None),
        };
        let qty: u32 = qty
            .parse()
            .map_err(|_| CliError::new(format!("{change}: the quantity must be a number, like web=2")))?;
        let mut u = json!({ "type": kind, "quantity": qty });
        if let Some(size) = size {
            u["size"] = json!(size);
        }
        updates.push(u);
    }
    let bar = output::spinner("Scaling dynos");
    let result = api.patch(&path, &json!({ "updates": updates })).await;
    bar.finish_and_clear();
    let formation = result?;
    show_formation(&formation, args.json.json, true)
}

/// `TYPE=VALUE` → `(TYPE, VALUE)`, or a line naming the expected form.
fn split_change<'a>(change: &'a str, form: &str) -> CliResult<(&'a str, &'a str)> {
    change
        .split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| CliError::new(format!("{change}: expected {form}")))
}

/// Prints the formation: `web=2:standard-1x worker=1:standard-1x`, or a table of sizes.
fn show_formation(formation: &Value, json: bool, scaled: bool) -> CliResult {
    if json {
        output::print_json(formation);
        return Ok(());
    }
    let list: Vec<String> = formation
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!(
                "{}={}:{}",
                output::text(&f["type"]),
                output::text(&f["quantity"]),
                output::text(&f["size"])
            )
        })
        .collect();
    if list.is_empty() {
        println!("No process types yet: deploy code with a Procfile first (broker deploy)");
    } else if scaled {
        println!("Scaled to {}", list.join(" "));
    } else {
        println!("{}", list.join(" "));
    }
    Ok(())
}

/// `broker ps:restart`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker ps:restart          (every dyno)\n  broker ps:restart web      (the web dynos)\n  broker ps:restart web.1"
)]
pub struct RestartArgs {
    /// A dyno (`web.1`) or a process type (`web`); default: every dyno of the formation.
    dyno: Option<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Prints what was done: a sentence, or with `--json` `{"app", ACTION: dynos}`.
fn report(json: JsonFlag, app: &str, action: &str, dynos: &[String], sentence: String) {
    if json.json {
        output::print_json(&json!({ "app": app, action: dynos }));
    } else {
        println!("{sentence}");
    }
}

/// Restarts all dynos, those of a type, or one.
pub async fn restart(args: RestartArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let path = format!("/apps/{}/dynos", seg(&app));
    let Some(target) = args.dyno else {
        api.delete(&path).await?;
        report(
            args.json,
            &app,
            "restarted",
            &["all".into()],
            format!("Restarting all dynos on {app}"),
        );
        return Ok(());
    };
    if target.contains('.') {
        api.delete(&format!("{path}/{}", seg(&target))).await?;
        let sentence = format!("Restarting {target} on {app}");
        report(args.json, &app, "restarted", std::slice::from_ref(&target), sentence);
        return Ok(());
    }
    let dynos = api.get(&path).await?;
    let names: Vec<String> = dynos
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["type"] == target.as_str())
        .map(|d| output::text(&d["name"]))
        .collect();
    if names.is_empty() {
        return Err(CliError::new(format!(
            "{app} has no {target} dynos running; see `broker ps -a {app}`"
        )));
    }
    for name in &names {
        api.delete(&format!("{path}/{}", seg(name))).await?;
    }
    let sentence = format!("Restarting {} on {app}", names.join(", "));
    report(args.json, &app, "restarted", &names, sentence);
    Ok(())
}

/// `broker ps:stop`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  broker ps:stop run.1\n\nA formation dyno comes back (scale it to 0 to keep it down); a one-off dyno stays down."
)]
pub struct StopArgs {
    /// The dyno (`run.1`, `web.2`).
    dyno: String,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Stops one dyno.
pub async fn stop(args: StopArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    api.post(
        &format!("/apps/{}/dynos/{}/actions/stop", seg(&app), seg(&args.dyno)),
        &json!({}),
    )
    .await?;
    let sentence = format!("Stopping {} on {app}", args.dyno);
    report(args.json, &app, "stopped", std::slice::from_ref(&args.dyno), sentence);
    Ok(())
}

/// `broker ps:type`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  broker ps:type\n  broker ps:type web=standard-2x worker=performance-m")]
pub struct TypeArgs {
    /// `TYPE=SIZE` changes; none shows the sizes.
    #[arg(value_name = "TYPE=SIZE")]
    changes: Vec<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Shows or changes the dyno size of process types.
pub async fn resize(args: TypeArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let path = format!("/apps/{}/formation", seg(&app));
    let formation = if args.changes.is_empty() {
        api.get(&path).await?
    } else {
        let mut updates = Vec::new();
        for change in &args.changes {
            let (kind, size) = split_change(change, &format!("TYPE=SIZE; sizes are {}", size_names()))?;
            updates.push(json!({ "type": kind, "size": size }));
        }
        api.patch(&path, &json!({ "updates": updates })).await?
    };
    if args.json.json {
        output::print_json(&formation);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = formation
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let size = output::text(&f["size"]);
            let memory = SIZES
                .iter()
                .find(|s| s.name == size)
                .map(|s| format!("{} MiB", s.memory_bytes >> 20))
                .unwrap_or_default();
            vec![output::text(&f["type"]), size, output::text(&f["quantity"]), memory]
        })
        .collect();
    if rows.is_empty() {
        println!("No process types yet: deploy code with a Procfile first (broker deploy)");
    } else {
        output::table(&["Type", "Size", "Qty", "Memory"], rows);
    }
    println!("Sizes: {}", size_names());
    Ok(())
}

/// `standard-1x (512 MiB), standard-2x (1024 MiB), …`.
fn size_names() -> String {
    SIZES
        .iter()
        .map(|s| format!("{} ({} MiB)", s.name, s.memory_bytes >> 20))
        .collect::<Vec<_>>()
        .join(", ")
}
