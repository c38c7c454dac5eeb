//! `run` (an interactive one-off dyno, attached over a WebSocket) and `run:detached`.
//!
//! On a terminal (stdin and stdout both), `run` asks for a dyno with a terminal of the same
//! size, puts the local terminal in raw mode (restored on every way out) and passes keystrokes
//! and window resizes on; Ctrl-C is then a keystroke the dyno's terminal turns into SIGINT.
//! Without a terminal it streams stdin (its end becomes `{"type":"eof"}`) and the output with
//! no terminal in the dyno, and a SIGINT of the CLI is passed on as a signal. The CLI exits
//! with the dyno's exit code.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::Args;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use super::api::{seg, Api};
use super::error::{CliError, CliResult};
use super::output::{self, JsonFlag};
use super::target::AppFlag;

/// What both `run` and `run:detached` take besides the command.
#[derive(Debug, Args)]
pub struct OneOff {
    #[command(flatten)]
    app: AppFlag,
    /// Dyno size (standard-1x, standard-2x, performance-m, performance-l).
    #[arg(long, short = 's')]
    size: Option<String>,
    /// An environment variable for this dyno only (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
}

/// `broker run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker run bash\n  broker run python3 manage.py migrate\n  \
                        broker run -e DEBUG=1 --size standard-2x python3 manage.py shell\n  \
                        echo 'print(1+1)' | broker run python3"
)]
pub struct RunArgs {
    #[command(flatten)]
    dyno: OneOff,
    /// No terminal in the dyno, even when this one is a terminal: plain streams.
    #[arg(long)]
    no_tty: bool,
    /// The command and its arguments, run by `/bin/sh -c` in the dyno.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// `broker run:detached`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  broker run:detached python3 manage.py migrate")]
pub struct DetachedArgs {
    #[command(flatten)]
    dyno: OneOff,
    #[command(flatten)]
    json: JsonFlag,
    /// The command and its arguments, run by `/bin/sh -c` in the dyno.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// `KEY=VALUE`s as a map.
fn env_map(pairs: &[String]) -> CliResult<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::new(format!("--env takes KEY=VALUE; got {p:?}"))),
        })
        .collect()
}

/// Starts a one-off dyno that runs on its own; prints its name and where its output goes.
pub async fn detached(args: DetachedArgs) -> CliResult {
    let api = Api::from_login()?;
    let app = args.dyno.app.resolve()?;
    let command = args.command.join(" ");
    let mut body = json!({ "command": command, "env": env_map(&args.dyno.env)? });
    if let Some(size) = &args.dyno.size {
        body["size"] = json!(size);
    }
    let dyno = api.post(&format!("/apps/{}/dynos", seg(&app)), &body).await?;
    if args.json.json {
        output::print_json(&dyno);
        return Ok(());
    }
    let name = output::text(&dyno["name"]);
    println!("Running `{command}` on {app}... up, {name}");
    println!("See its output with: broker logs -a {app} --dyno {name}");
    Ok(())
}

/// Runs an attached one-off dyno; the exit code is the dyno's.
pub async fn run(args: RunArgs) -> ExitCode {
    match attached(args).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{} {e}", output::bad("broker:"));
            ExitCode::from(e.code.max(1))
        }
    }
}

/// Puts the terminal in raw mode until dropped.
struct RawMode;

impl RawMode {
    fn enable() -> CliResult<RawMode> {
        crossterm::terminal::enable_raw_mode().map_err(|e| CliError::new(format!("the terminal: {e}")))?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

async fn attached(args: RunArgs) -> CliResult<u8> {
    let api = Api::from_login()?;
    let app = args.dyno.app.resolve()?;
    let tty = !args.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut env = env_map(&args.dyno.env)?;
    if tty {
        if let Ok((cols @ 1.., rows @ 1..)) = crossterm::terminal::size() {
            env.insert("COLUMNS".into(), cols.to_string());
            env.insert("LINES".into(), rows.to_string());
        }
        if let Ok(term) = std::env::var("TERM") {
            env.entry("TERM".into()).or_insert(term);
        }
    }
    let command = args.command.join(" ");
    let mut body = json!({ "command": command, "env": env, "interactive": true, "force_no_tty": !tty });
    if let Some(size) = &args.dyno.size {
        body["size"] = json!(size);
    }
    let bar = output::spinner(format!("Running `{command}` on {app}"));
    let dyno = api.post(&format!("/apps/{}/dynos", seg(&app)), &body).await;
    bar.finish_and_clear();
    let dyno = dyno?;
    let name = output::text(&dyno["name"]);
    let url = dyno["attach_url"]
        .as_str()
        .ok_or_else(|| CliError::new("the broker gave no attach_url; is it older than the CLI?"))?;
    let ws = connect(&api, &same_origin(api.url(), url)?).await?;
    if std::io::stderr().is_terminal() {
        eprintln!("Running `{command}` on {app}... up, {name}");
    }
    let raw = if tty { Some(RawMode::enable()?) } else { None };
    let code = session(ws, tty).await;
    drop(raw);
    code
}

/// The attach URL's path on the login's own origin (`http` → `ws`, `https` → `wss`): the
/// token goes only where the login points, never to a host or scheme the answer named (a proxy
/// in front of the broker may make the broker see another one).
fn same_origin(login_url: &str, attach_url: &str) -> CliResult<String> {
    let path = attach_url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .filter(|p| p.starts_with("/apps/"))
        .ok_or_else(|| {
            CliError::new(format!(
                "the broker gave an attach_url that is not a dyno's: {attach_url}"
            ))
        })?;
    let base = if let Some(rest) = login_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = login_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(CliError::new(format!(
            "the broker URL {login_url} is neither http:// nor https://"
        )));
    };
    Ok(format!("{}{path}", base.trim_end_matches('/')))
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket with the login's token.
async fn connect(api: &Api, url: &str) -> CliResult<Ws> {
    let mut request = url
        .into_client_request()
        .map_err(|e| CliError::new(format!("bad attach_url {url}: {e}")))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", api.token()))
        .map_err(|_| CliError::new("the token cannot be sent in a header; log in again"))?;
    request.headers_mut().insert("authorization", bearer);
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body: Value = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            let message = body["message"].as_str().unwrap_or("the broker refused to attach");
            Err(CliError::new(format!("{message} ({})", response.status())))
        }
        Err(e) => Err(CliError::new(format!("attaching to the dyno at {url}: {e}"))),
    }
}

/// Reads stdin on a thread of its own (a blocked read must not hold the process at exit);
/// `None` is the end of input.
fn stdin_reader() -> mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(n) => {
                    if tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

fn signals(kind: SignalKind) -> CliResult<tokio::signal::unix::Signal> {
    signal(kind).map_err(|e| CliError::new(format!("watching signals: {e}")))
}

/// Moves bytes between this terminal (or stdin and stdout) and the dyno until it exits. Input
/// goes out from a task of its own, so that reading the dyno's output never waits for a send
/// (a dyno that stops reading while its output waits would otherwise block both ways).
async fn session(ws: Ws, tty: bool) -> CliResult<u8> {
    let (tx, rx) = ws.split();
    let (controls, control_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(send_input(tx, stdin_reader(), control_rx, tty));
    let result = receive_output(rx, controls, tty).await;
    writer.abort();
    result
}

/// Sends stdin's bytes (and the end of input) and the controls `controls` carries.
async fn send_input(
    mut tx: futures::stream::SplitSink<Ws, Message>,
    mut input: mpsc::Receiver<Option<Vec<u8>>>,
    mut controls: mpsc::UnboundedReceiver<Message>,
    tty: bool,
) {
    let mut input_open = true;
    loop {
        let msg = tokio::select! {
            bytes = input.recv(), if input_open => match bytes.flatten() {
                Some(bytes) => Message::Binary(bytes.into()),
                None => {
                    input_open = false;
                    // A terminal's end of input is Ctrl-D, typed in raw mode; nothing to send.
                    if tty {
                        continue;
                    }
                    control(json!({ "type": "eof" }))
                }
            },
            m = controls.recv() => match m {
                Some(m) => m,
                None => return,
            },
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Writes the dyno's output and turns this process's signals into controls, until the exit.
async fn receive_output(
    mut rx: futures::stream::SplitStream<Ws>,
    controls: mpsc::UnboundedSender<Message>,
    tty: bool,
) -> CliResult<u8> {
    let mut winch = signals(SignalKind::window_change())?;
    let mut interrupt = signals(SignalKind::interrupt())?;
    // Ended from outside: leave through the caller, which restores the terminal (the dyno
    // stops when the connection drops).
    let mut terminate = signals(SignalKind::terminate())?;
    let mut hangup = signals(SignalKind::hangup())?;
    let mut stdout = std::io::stdout();
    let lost = || CliError::new("the connection to the dyno was lost");
    loop {
        tokio::select! {
            _ = winch.recv() => {
                if let Ok((cols @ 1.., rows @ 1..)) = crossterm::terminal::size() {
                    if tty {
                        let _ = controls.send(control(json!({ "type": "resize", "cols": cols, "rows": rows })));
                    }
                }
            }
            _ = interrupt.recv() => {
                let _ = controls.send(control(json!({ "type": "signal", "name": "INT" })));
            }
            _ = terminate.recv() => return Err(CliError::new("terminated; the dyno is stopped")),
            _ = hangup.recv() => return Err(CliError::new("the terminal hung up; the dyno is stopped")),
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    let _ = stdout.write_all(&bytes).and_then(|()| stdout.flush());
                }
                Some(Ok(Message::Text(text))) => {
                    let m: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match m["type"].as_str() {
                        Some("exit") => return Ok(m["code"].as_i64().unwrap_or(1).clamp(0, 255) as u8),
                        // In raw mode a line feed does not return the carriage.
                        Some("error") => eprint!("broker: {}{}", output::text(&m["message"]), if tty { "\r\n" } else { "\n" }),
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err(lost()),
                Some(Ok(_)) => {}
            },
        }
    }
}

fn control(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_to_the_login_origin_only() {
        let url = same_origin(
            "https://broker.example.com",
            "ws://10.0.0.5:8080/apps/a/dynos/run.1/attach",
        )
        .unwrap();
        assert_eq!(url, "wss://broker.example.com/apps/a/dynos/run.1/attach");
        let url = same_origin(
            "http://127.0.0.1:8080/",
            "ws://127.0.0.1:8080/apps/a/dynos/run.1/attach",
        )
        .unwrap();
        assert_eq!(url, "ws://127.0.0.1:8080/apps/a/dynos/run.1/attach");
        assert!(same_origin("http://x", "ws://evil/steal").is_err());
    }
}
