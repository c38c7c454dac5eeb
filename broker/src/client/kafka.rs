//! `kafka:topics`, `kafka:topics:create`, `kafka:topics:destroy`: the topics of an app's Kafka
//! add-on (`/apps/{app}/addons/{addon}/topics`). The add-on defaults to the app's only Kafka
//! add-on; a short topic name gets the add-on's prefix (`KAFKA_PREFIX`) put before it.

use std::time::Duration;

use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// The service whose add-ons have topics.
const KAFKA: &str = "kafka";

/// `broker kafka:topics`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  broker kafka:topics -a myapp\n  broker kafka:topics kafka-abc123 -a myapp")]
pub struct ListArgs {
    /// The Kafka add-on (default: the app's only one).
    addon: Option<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Lists the topics of a Kafka add-on.
pub async fn list(args: ListArgs) -> CliResult {
    let app = args.app.resolve()?;
    let api = Api::from_login()?;
    let target = Target::find(&api, &app, args.addon.as_deref()).await?;
    let topics = api.get(&target.path("")).await?;
    if args.json.json {
        output::print_json(&topics);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = topics["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                output::text(&t["name"]),
                output::text(&t["partitions"]),
                retention(&t["retention_ms"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!(
            "{} has no topics. Create one with: broker kafka:topics:create NAME -a {app}",
            target.name
        );
        return Ok(());
    }
    output::table(&["Topic", "Partitions", "Retention"], rows);
    Ok(())
}

/// `broker kafka:topics:create`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker kafka:topics:create events -a myapp          (named under the add-on's KAFKA_PREFIX)\n  broker kafka:topics:create events --partitions 3 kafka-abc123 -a myapp"
)]
pub struct CreateArgs {
    /// The topic: a full name under the add-on's prefix, or a short one the prefix is put before.
    topic: String,
    /// The Kafka add-on (default: the app's only one).
    addon: Option<String>,
    /// Partitions (default 1; at most the plan's maximum).
    #[arg(long)]
    partitions: Option<i32>,
    /// `retention.ms` (default: the plan's).
    #[arg(long, value_name = "MS")]
    retention_ms: Option<i64>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Creates a topic (an identical existing one is fine; another spec is a conflict).
pub async fn create(args: CreateArgs) -> CliResult {
    let app = args.app.resolve()?;
    let api = Api::from_login()?;
    let target = Target::find(&api, &app, args.addon.as_deref()).await?;
    let full = target.full_name(&args.topic);
    let mut body = json!({});
    if let Some(p) = args.partitions {
        body["partitions"] = json!(p);
    }
    if let Some(r) = args.retention_ms {
        body["retention_ms"] = json!(r);
    }
    let bar = output::spinner(format!("Creating topic {full} on {}", target.name));
    let result = put_topic(&api, &target, &full, &body).await;
    bar.finish_and_clear();
    let (status, topic) = result?;
    if args.json.json {
        output::print_json(&topic);
        return Ok(());
    }
    let verb = if status == StatusCode::OK {
        "already exists as asked"
    } else {
        "created"
    };
    let kept = match retention(&topic["retention_ms"]) {
        r if r.is_empty() => String::new(),
        r => format!(", retention {r}"),
    };
    println!(
        "Topic {} {verb} on {} ({} partitions{kept})",
        output::text(&topic["name"]),
        target.name,
        output::text(&topic["partitions"]),
    );
    Ok(())
}

/// PUTs a topic; when the provider works asynchronously (202), waits until the topic exists.
async fn put_topic(api: &Api, target: &Target, full: &str, body: &Value) -> CliResult<(StatusCode, Value)> {
    let response = api
        .send(
            api.request(Method::PUT, &target.path(&format!("/{}", seg(full))))
                .json(body),
        )
        .await?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status != StatusCode::ACCEPTED {
        return Ok((status, answer));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let response = api
            .request(Method::GET, &target.path(&format!("/{}", seg(full))))
            .send()
            .await;
        if let Ok(r) = response {
            if r.status().is_success() {
                let topic: Value = r.json().await.unwrap_or(Value::Null);
                return Ok((StatusCode::CREATED, topic));
            }
        }
    }
    Err(CliError::new(format!(
        "topic {full} was accepted but did not appear within 10 minutes; look again with: broker kafka:topics -a {}",
        target.app
    )))
}

/// `broker kafka:topics:destroy`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker kafka:topics:destroy events --confirm events -a myapp")]
pub struct DestroyArgs {
    /// The topic (full or short name, as for create).
    topic: String,
    /// The Kafka add-on (default: the app's only one).
    addon: Option<String>,
    /// The topic's name again, to confirm: its messages are deleted.
    #[arg(long, value_name = "TOPIC")]
    confirm: Option<String>,
    #[command(flatten)]
    app: AppFlag,
    #[command(flatten)]
    json: JsonFlag,
}

/// Deletes a topic after `--confirm TOPIC`.
pub async fn destroy(args: DestroyArgs) -> CliResult {
    let app = args.app.resolve()?;
    let refuse = || {
        CliError::new(format!(
            "this deletes topic {t} and its messages; to go on, run: broker kafka:topics:destroy {t} --confirm {t} -a {app}",
            t = args.topic
        ))
    };
    let Some(confirm) = args.confirm.as_deref() else {
        return Err(refuse());
    };
    let api = Api::from_login()?;
    let target = Target::find(&api, &app, args.addon.as_deref()).await?;
    let full = target.full_name(&args.topic);
    if confirm != args.topic && confirm != full {
        return Err(refuse());
    }
    let bar = output::spinner(format!("Deleting topic {full} on {}", target.name));
    let result = api.delete(&target.path(&format!("/{}", seg(&full)))).await;
    bar.finish_and_clear();
    let answer = result?;
    if args.json.json {
        output::print_json(&answer);
    } else {
        println!("Topic {full} deleted from {}", target.name);
    }
    Ok(())
}

/// The Kafka add-on a command is about, and its topic prefix on the app.
struct Target {
    app: String,
    id: String,
    name: String,
    prefix: Option<String>,
}

impl Target {
    /// The add-on named (anything the API takes: name, id, `KAFKA`, `kafka`) or the app's
    /// only Kafka add-on.
    async fn find(api: &Api, app: &str, addon: Option<&str>) -> CliResult<Target> {
        let addon = match addon {
            Some(named) => api.get(&format!("/apps/{}/addons/{}", seg(app), seg(named))).await?,
            None => only_kafka(api, app).await?,
        };
        let id = output::text(&addon["id"]);
        // The prefix is the attachment's `<NAME>_PREFIX` config var on this app.
        let attachments = api.get(&format!("/apps/{}/addon-attachments", seg(app))).await?;
        let attachment = attachments
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["addon"]["id"] == id.as_str())
            .map(|x| output::text(&x["name"]));
        let prefix = match attachment {
            Some(name) => {
                let vars = api.get(&format!("/apps/{}/config-vars", seg(app))).await?;
                vars[format!("{name}_PREFIX")].as_str().map(str::to_string)
            }
            None => None,
        };
        Ok(Target {
            app: app.to_string(),
            name: output::text(&addon["name"]),
            id,
            prefix,
        })
    }

    /// `/apps/{app}/addons/{id}/topics{rest}`.
    fn path(&self, rest: &str) -> String {
        format!("/apps/{}/addons/{}/topics{rest}", seg(&self.app), seg(&self.id))
    }

    /// A topic name as typed, with the prefix put before it when it lacks it.
    fn full_name(&self, topic: &str) -> String {
        match &self.prefix {
            Some(p) if !topic.starts_with(p.as_str()) => format!("{p}{topic}"),
            _ => topic.to_string(),
        }
    }
}

/// The app's only Kafka add-on; none or several is the error, saying what to do.
async fn only_kafka(api: &Api, app: &str) -> CliResult<Value> {
    let addons = api.get(&format!("/apps/{}/addons", seg(app))).await?;
    let kafkas: Vec<&Value> = addons
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["service"] == KAFKA)
        .collect();
    match kafkas.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::new(format!(
            "{app} has no Kafka add-on; create one with: broker addons:create kafka -a {app}"
        ))),
        several => {
            let names: Vec<String> = several.iter().map(|a| output::text(&a["name"])).collect();
            Err(CliError::new(format!(
                "{app} has {} Kafka add-ons ({}); name one after the topic (broker kafka:topics {} -a {app})",
                names.len(),
                names.join(", "),
                names[0]
            )))
        }
    }
}

/// `retention.ms` for people: `1d`, `6h`, `90m`, else milliseconds.
fn retention(ms: &Value) -> String {
    let Some(ms) = ms.as_i64() else {
        return String::new();
    };
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_topic_names_get_the_prefix_and_retention_reads_for_people() {
        let t = Target {
            app: "a".into(),
            id: "i".into(),
            name: "kafka-x".into(),
            prefix: Some("ab-x.".into()),
        };
        assert_eq!(t.full_name("events"), "ab-x.events");
        assert_eq!(t.full_name("ab-x.events"), "ab-x.events");
        assert_eq!(retention(&json!(86_400_000)), "1d");
        assert_eq!(retention(&json!(5_400_000)), "90m");
        assert_eq!(retention(&json!(1500)), "1500ms");
        assert_eq!(retention(&Value::Null), "");
    }
}
