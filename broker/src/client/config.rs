//! `config`, `config:get`, `config:set`, `config:unset`: an app's config vars, each change one
//! release (whose version is printed, as Heroku's CLI does).

use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// `broker config`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  broker config -a myapp\n  broker config --shell > .env")]
pub struct ListArgs {
    /// Print `KEY=value` lines (values quoted for a POSIX shell where needed).
    #[arg(long, conflicts_with = "json")]
    shell: bool,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Shows an app's config vars.
pub async fn list(args: ListArgs) -> CliResult {
    let app = args.app.resolve()?;
    let vars = Api::from_login()?.get(&vars_path(&app)).await?;
    if args.json.json {
        output::print_json(&vars);
        return Ok(());
    }
    let vars = vars.as_object().cloned().unwrap_or_default();
    if args.shell {
        for (k, v) in &vars {
            println!("{k}={}", shell_quote(&output::text(v)));
        }
        return Ok(());
    }
    if vars.is_empty() {
        println!("{app} has no config vars. Set some with: broker config:set KEY=value -a {app}");
        return Ok(());
    }
    output::heading(&format!("{app} Config Vars"));
    let pairs: Vec<(&str, String)> = vars.iter().map(|(k, v)| (k.as_str(), output::text(v))).collect();
    output::fields(&pairs);
    Ok(())
}

/// `broker config:get`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker config:get DATABASE_URL -a myapp")]
pub struct GetArgs {
    /// The config var's name.
    key: String,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Prints one config var's value; a var that is not set is an error (exit 1).
pub async fn get(args: GetArgs) -> CliResult {
    let app = args.app.resolve()?;
    let vars = Api::from_login()?.get(&vars_path(&app)).await?;
    let Some(value) = vars.get(&args.key) else {
        return Err(CliError::new(format!(
            "config var {} is not set on {app} (broker config -a {app} lists them)",
            args.key
        )));
    };
    if args.json.json {
        output::print_json(&json!({ args.key.as_str(): value }));
    } else {
        println!("{}", output::text(value));
    }
    Ok(())
}

/// `broker config:set`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker config:set GREETING=hello 'MOTTO=two words' -a myapp")]
pub struct SetArgs {
    /// `KEY=value` pairs (the value may be empty and may contain `=`).
    #[arg(required = true, value_name = "KEY=VALUE")]
    pairs: Vec<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Sets config vars in one request (so one release).
pub async fn set(args: SetArgs) -> CliResult {
    let app = args.app.resolve()?;
    let changes = parse_pairs(&args.pairs)?;
    let api = Api::from_login()?;
    let names: Vec<String> = changes.keys().cloned().collect();
    let verb = format!("Setting {}", names.join(", "));
    let vars = change(&api, &app, Value::Object(changes.clone()), &verb, args.json.json).await?;
    if args.json.json {
        output::print_json(&vars);
    } else {
        let pairs: Vec<(&str, String)> = changes.iter().map(|(k, v)| (k.as_str(), output::text(v))).collect();
        output::fields(&pairs);
    }
    Ok(())
}

/// `broker config:unset`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker config:unset GREETING MOTTO -a myapp")]
pub struct UnsetArgs {
    /// Names of the config vars to remove.
    #[arg(required = true, value_name = "KEY")]
    keys: Vec<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Removes config vars in one request (so one release).
pub async fn unset(args: UnsetArgs) -> CliResult {
    let app = args.app.resolve()?;
    let mut changes = Map::new();
    for key in &args.keys {
        check_key(key, key)?;
        changes.insert(key.clone(), Value::Null);
    }
    let api = Api::from_login()?;
    let verb = format!("Unsetting {}", args.keys.join(", "));
    let vars = change(&api, &app, Value::Object(changes), &verb, args.json.json).await?;
    if args.json.json {
        output::print_json(&vars);
    }
    Ok(())
}

/// One PATCH of config vars with a spinner; ends with the release it made (`done, v7`), or
/// says that nothing changed. Returns the app's config vars after the change.
async fn change(api: &Api, app: &str, body: Value, verb: &str, quiet: bool) -> CliResult<Value> {
    let bar = output::spinner(format!("{verb} and restarting {app}"));
    let result = async {
        let before = latest_release(api, app).await?;
        let vars = api.patch(&vars_path(app), &body).await?;
        let after = latest_release(api, app).await?;
        Ok::<_, CliError>((vars, before, after))
    }
    .await;
    let (vars, before, after) = match result {
        Ok(r) => r,
        Err(e) => {
            bar.finish_and_clear();
            return Err(e);
        }
    };
    let tail = match after {
        Some(v) if after > before => format!("done, v{v}"),
        _ => "done (nothing changed, no new release)".to_string(),
    };
    if quiet {
        bar.finish_and_clear();
    } else {
        output::done(bar, format!("{verb} and restarting {app}… {tail}"));
    }
    Ok(vars)
}

/// The version of an app's latest release (`None` before its first), reading every page.
pub async fn latest_release(api: &Api, app: &str) -> CliResult<Option<i64>> {
    let mut range = "version ..; max=1000".to_string();
    let mut latest = None;
    loop {
        let request = api
            .request(Method::GET, &format!("/apps/{}/releases", seg(app)))
            .header("Range", &range);
        let response = api.send(request).await?;
        let partial = response.status() == StatusCode::PARTIAL_CONTENT;
        let next = response
            .headers()
            .get("next-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let page: Value = response
            .json()
            .await
            .map_err(|e| CliError::new(format!("reading the releases of {app}: {e}")))?;
        let page_max = page
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["version"].as_i64())
            .max();
        latest = latest.max(page_max);
        match next {
            Some(n) if partial => range = n,
            _ => return Ok(latest),
        }
    }
}

fn vars_path(app: &str) -> String {
    format!("/apps/{}/config-vars", seg(app))
}

/// `KEY=value` arguments as a PATCH body; the first bad one is the error, before anything is sent.
fn parse_pairs(pairs: &[String]) -> CliResult<Map<String, Value>> {
    let mut out = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CliError::new(format!(
                "{pair} is not KEY=value; nothing was changed (example: broker config:set {pair}=value)"
            )));
        };
        check_key(key, pair)?;
        out.insert(key.to_string(), Value::String(value.to_string()));
    }
    Ok(out)
}

/// A config var name a person typed: not empty, no `=`, no space (the API checks the rest).
fn check_key(key: &str, typed: &str) -> CliResult {
    if key.is_empty() || key.contains(['=', ' ', '\t', '\n']) {
        return Err(CliError::new(format!(
            "{typed} does not name a config var (letters, digits and _); nothing was changed"
        )));
    }
    Ok(())
}

/// `A`, `A and B`, `A, B and C`.
pub fn sentence(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A value as a POSIX shell word: bare when it is only safe characters, else single-quoted.
fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+,=".contains(&b));
    if safe {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_the_first_equals_and_bad_ones_are_refused() {
        let pairs = parse_pairs(&["A=1".into(), "B=x=y".into(), "C=".into()]).unwrap();
        assert_eq!(Value::Object(pairs), json!({"A": "1", "B": "x=y", "C": ""}));
        for bad in ["NOVALUE", "=1", "A B=1"] {
            let e = parse_pairs(&[bad.into()]).unwrap_err().to_string();
            assert!(e.contains("nothing was changed"), "{e}");
        }
    }

    #[test]
    fn names_make_a_sentence_and_values_are_quoted_for_a_shell() {
        assert_eq!(sentence(&["A".into()]), "A");
        assert_eq!(sentence(&["A".into(), "B".into(), "C".into()]), "A, B and C");
        assert_eq!(shell_quote("postgres://u:p@h:5/d"), "postgres://u:p@h:5/d");
        assert_eq!(shell_quote("two words"), "'two words'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
