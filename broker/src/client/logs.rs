//! `logs`: an app's log lines, the last ones or (`--tail`) a live follow until Ctrl-C.

use std::io::Write;

use clap::Args;
use futures::StreamExt;
use reqwest::Method;

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::target::AppFlag;

/// `broker logs`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker logs -n 200\n  broker logs --tail --dyno web\n  broker logs --source broker --dyno web.1"
)]
pub struct LogsArgs {
    /// Keep following new lines (until Ctrl-C).
    #[arg(short = 't', long)]
    tail: bool,
    /// Only this dyno (`web.1`) or process type (`web`).
    #[arg(short = 'd', long, value_name = "DYNO")]
    dyno: Option<String>,
    /// Only this source: `app` (the dynos' output), `broker` (what the platform did) or
    /// `heroku` (the router's request lines).
    #[arg(short = 's', long, value_name = "SOURCE")]
    source: Option<String>,
    /// How many lines of the past to show (at most 1500).
    #[arg(short = 'n', long = "num", value_name = "N", default_value_t = 100)]
    lines: usize,
    #[command(flatten)]
    app: AppFlag,
    /// One JSON object per line (JSON Lines, so `--tail` streams too): `time`, `source`,
    /// `dyno`, `message`.
    #[arg(long)]
    json: bool,
}

/// A log line (`TIME SOURCE[DYNO]: MESSAGE`) as a JSON object; a line of another shape is
/// kept whole as its `message`.
fn line_json(line: &str) -> serde_json::Value {
    let parsed = line.split_once(' ').and_then(|(time, rest)| {
        let (head, message) = rest.split_once("]: ")?;
        let (source, dyno) = head.split_once('[')?;
        Some(serde_json::json!({ "time": time, "source": source, "dyno": dyno, "message": message }))
    });
    parsed.unwrap_or_else(|| serde_json::json!({ "message": line }))
}

/// Prints the log, following it with `--tail`.
pub async fn logs(args: LogsArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.app.resolve()?;
    let mut query = vec![("lines", args.lines.to_string())];
    if let Some(d) = &args.dyno {
        query.push(("dyno", d.clone()));
    }
    if let Some(s) = &args.source {
        query.push(("source", s.clone()));
    }
    if args.tail {
        query.push(("tail", "true".into()));
    }
    let request = api
        .request(Method::GET, &format!("/apps/{}/logs", seg(&app)))
        .header(reqwest::header::ACCEPT, "text/plain")
        .query(&query);
    let response = api.send(request).await?;
    let mut body = response.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut out = std::io::stdout();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::new(format!("reading the log: {e}")))?;
        pending.extend_from_slice(&chunk);
        // Whole lines only; the empty lines a tail sends to keep the connection alive are not
        // the app's.
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            if line.len() > 1 {
                let line = if args.json {
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    format!("{}\n", line_json(&text)).into_bytes()
                } else {
                    line
                };
                out.write_all(&line)
                    .and_then(|_| out.flush())
                    .map_err(|e| CliError::new(format!("writing the log: {e}")))?;
            }
        }
    }
    if !pending.is_empty() {
        let last = if args.json {
            line_json(&String::from_utf8_lossy(&pending)).to_string().into_bytes()
        } else {
            pending
        };
        let _ = out.write_all(&last).and_then(|_| out.write_all(b"\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_become_json_objects() {
        let v = line_json("2026-11-30T00:46:20.685000+00:00 app[web.1]: GET / 200");
        assert_eq!(v["source"], "app");
        assert_eq!(v["dyno"], "web.1");
        assert_eq!(v["message"], "GET / 200");
        assert_eq!(line_json("odd")["message"], "odd");
    }
}
