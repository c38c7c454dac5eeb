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

/// `broker run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broker run bash\n  broker run python3 manage.py migrate\n  \
                        broker run -e DEBUG=1 --size standard-2x python3 manage.py shell\n  \
                        echo 'print(1+1)' | broker run python3"
)]
pub struct RunArgs {
    #[command(flatten)]
    app: AppFlag,
    /// Dyno size (standard-1x, standard-2x, performance-m, performance-l).
    #[arg(long, short = 's')]
    size: Option<String>,
    /// An environment variable for this dyno only (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
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
    app: AppFlag,
    /// Dyno size (standard-1x, standard-2x, performance-m, performance-l).
    #[arg(long, short = 's')]
    size: Option<String>,
    /// An environment variable for this dyno only (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
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
    let app = args.app.resolve()?;
    let command = args.command.join(" ");
    let mut body = json!({ "command": command, "env": env_map(&args.env)? });
    if let Some(size) = &args.size {
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
    let app = args.app.resolve()?;
    let tty = !args.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut env = env_map(&args.env)?;
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
    if let Some(size) = &args.size {
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
    let ws = connect(&api, url).await?;
    if std::io::stderr().is_terminal() {
        eprintln!("Running `{command}` on {app}... up, {name}");
    }
    let raw = if tty { Some(RawMode::enable()?) } else { None };
    let code = session(ws, tty).await;
    drop(raw);
    code
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

/// Moves bytes between this terminal (or stdin and stdout) and the dyno until it exits.
async fn session(ws: Ws, tty: bool) -> CliResult<u8> {
    let (mut tx, mut rx) = ws.split();
    let mut input = stdin_reader();
    let mut input_open = true;
    let mut winch = signals(SignalKind::window_change())?;
    let mut interrupt = signals(SignalKind::interrupt())?;
    // Ended from outside: leave through the caller, which restores the terminal (the dyno
    // stops when the connection drops).
    let mut terminate = signals(SignalKind::terminate())?;
    let mut hangup = signals(SignalKind::hangup())?;
    let mut stdout = std::io::stdout();
    let lost = || CliError::new("the connection to the dyno was lost");
    loop {
        let sent = tokio::select! {
            bytes = input.recv(), if input_open => match bytes.flatten() {
                Some(bytes) => tx.send(Message::Binary(bytes.into())).await,
                None => {
                    input_open = false;
                    // A terminal's end of input is Ctrl-D, typed in raw mode; nothing to send.
                    if tty { Ok(()) } else { tx.send(control(json!({ "type": "eof" }))).await }
                }
            },
            _ = winch.recv() => match crossterm::terminal::size() {
                Ok((cols @ 1.., rows @ 1..)) if tty => tx.send(control(json!({ "type": "resize", "cols": cols, "rows": rows }))).await,
                _ => Ok(()),
            },
            _ = interrupt.recv() => tx.send(control(json!({ "type": "signal", "name": "INT" }))).await,
            _ = terminate.recv() => return Err(CliError::new("terminated; the dyno is stopped")),
            _ = hangup.recv() => return Err(CliError::new("the terminal hung up; the dyno is stopped")),
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    let _ = stdout.write_all(&bytes).and_then(|()| stdout.flush());
                    Ok(())
                }
                Some(Ok(Message::Text(text))) => {
                    let m: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match m["type"].as_str() {
                        Some("exit") => return Ok(m["code"].as_i64().unwrap_or(1).clamp(0, 255) as u8),
                        Some("error") => eprintln!("broker: {}", output::text(&m["message"])),
                        _ => {}
                    }
                    Ok(())
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err(lost()),
                Some(Ok(_)) => Ok(()),
            },
        };
        sent.map_err(|_| lost())?;
    }
}

fn control(value: Value) -> Message {
    Message::Text(value.to_string().into())
}
