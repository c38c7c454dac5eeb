//! Attaching to an interactive one-off dyno over a WebSocket.
//!
//! Protocol: binary frames are raw bytes both ways (the client's keystrokes or stdin, the
//! dyno's output). The client's text frames are JSON controls: `{"type":"resize","cols":N,
//! "rows":N}`, `{"type":"signal","name":"INT"}` (`INT`, `QUIT`, `TERM`, `HUP`, `KILL`, `USR1`,
//! `USR2`) and `{"type":"eof"}` (end of input). A control the server does not understand is
//! answered with `{"type":"error","message":…}`. When the dyno ends the server sends the rest
//! of its output, then `{"type":"exit","code":N}`, and closes. A client that goes before the
//! dyno ends stops it.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{Message, MessageStream, Session};
use runtime::{Attachment, Input, Signal, TermSize};
use serde::Deserialize;
use serde_json::json;

use crate::dynos::{AttachTarget, Dynos};
use crate::error::Error;
use crate::http::errors::ApiError;
use crate::http::extract::platform_actor;
use crate::http::state::PlatformState;

/// Attach to an interactive one-off dyno: a WebSocket (send the bearer token in the
/// handshake's `Authorization` header). Binary frames carry raw bytes both ways; the client's
/// text frames are `{"type":"resize","cols":N,"rows":N}`, `{"type":"signal","name":"INT"}` and
/// `{"type":"eof"}`; the server ends with `{"type":"exit","code":N}` when the dyno ends. One
/// client per dyno; disconnecting stops the dyno.
#[utoipa::path(get, path = "/apps/{app}/dynos/{dyno}/attach", tag = "dynos",
    params(("app" = String, Path, description = "id or name"), ("dyno" = String, Path, description = "name (run.1) or id")),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = 400, description = "Not a WebSocket handshake", body = ApiError),
              (status = 404, body = ApiError), (status = 409, description = "Already attached", body = ApiError),
              (status = 410, description = "The dyno has ended", body = ApiError),
              (status = 422, description = "Not an interactive dyno", body = ApiError)),
    security(("bearer" = [])))]
pub async fn attach_dyno(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<(String, String)>,
    state: web::Data<PlatformState>,
) -> Result<HttpResponse, ApiError> {
    let actor = platform_actor(&req).await?;
    let (app, dyno) = path.into_inner();
    let target = state.dynos.attach_target(app, dyno, &actor).await?;
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|_| {
        Error::BadRequest("this route speaks WebSocket: send a WebSocket handshake (Upgrade: websocket)".into())
    })?;
    let attachment = state.dynos.take_attachment(&target).await?;
    let dynos = state.dynos.clone();
    actix_web::rt::spawn(relay(dynos, target, attachment, session, stream));
    Ok(response)
}

/// A client's control message.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Control {
    Resize { cols: u16, rows: u16 },
    Signal { name: String },
    Eof,
}

fn control(text: &str) -> Result<Input, String> {
    match serde_json::from_str::<Control>(text) {
        Ok(Control::Resize { cols, rows }) if cols > 0 && rows > 0 => Ok(Input::Resize(TermSize { rows, cols })),
        Ok(Control::Resize { .. }) => Err("resize needs cols and rows above 0".into()),
        Ok(Control::Signal { name }) => Signal::from_name(&name)
            .map(Input::Signal)
            .ok_or_else(|| format!("unknown signal {name:?}; one of INT, QUIT, TERM, HUP, KILL, USR1, USR2")),
        Ok(Control::Eof) => Ok(Input::Eof),
        Err(e) => Err(format!("not a control message: {e}")),
    }
}

/// Passes the client's frames to the dyno until the client goes (then `gone` fires). A client
/// silent for `IDLE` is pinged; one that does not answer within another `IDLE` is gone, so a
/// half-open connection does not keep a dyno alive until its time to live.
async fn forward_input(
    input: tokio::sync::mpsc::Sender<Input>,
    mut session: Session,
    mut stream: MessageStream,
    gone: tokio::sync::oneshot::Sender<()>,
) {
    const IDLE: Duration = Duration::from_secs(30);
    let mut pinged = false;
    loop {
        let msg = match tokio::time::timeout(IDLE, stream.recv()).await {
            Ok(msg) => msg,
            Err(_) if !pinged => {
                pinged = true;
                if session.ping(b"").await.is_err() {
                    break;
                }
                continue;
            }
            Err(_) => break,
        };
        pinged = false;
        match msg {
            // Input for a dyno that has ended is dropped; the relay sends the exit.
            Some(Ok(Message::Binary(bytes))) => {
                let _ = input.send(Input::Data(bytes.to_vec())).await;
            }
            Some(Ok(Message::Text(text))) => match control(&text) {
                Ok(i) => {
                    let _ = input.send(i).await;
                }
                Err(message) => {
                    let _ = session
                        .text(json!({ "type": "error", "message": message }).to_string())
                        .await;
                }
            },
            Some(Ok(Message::Ping(p))) => {
                let _ = session.pong(&p).await;
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
    }
    let _ = gone.send(());
}

/// How a session ended.
enum End {
    /// The dyno ended with this code.
    Exited(i32),
    /// The client closed the connection or it broke.
    ClientGone,
}

/// Moves bytes between the client and the dyno until one of them ends. Input runs in a task
/// of its own: a dyno that stops reading its input while its output waits to be sent would
/// otherwise block both directions at once.
async fn relay(dynos: Dynos, target: AttachTarget, mut a: Attachment, session: Session, stream: MessageStream) {
    let (gone_tx, mut gone) = tokio::sync::oneshot::channel::<()>();
    let input = actix_web::rt::spawn(forward_input(a.input.clone(), session.clone(), stream, gone_tx));
    let mut session = session;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut output_open = true;
    let end = loop {
        tokio::select! {
            out = a.output.recv(), if output_open => match out {
                Some(bytes) => {
                    if session.binary(bytes).await.is_err() {
                        break End::ClientGone;
                    }
                }
                None => output_open = false,
            },
            _ = &mut gone => break End::ClientGone,
            _ = tick.tick() => match dynos.exit_code(&target).await {
                Ok(Some(code)) => break End::Exited(code),
                Ok(None) => {}
                // The container is gone (its app destroyed, swept): the session is over.
                Err(_) => break End::Exited(1),
            },
        }
    };
    input.abort();
    match end {
        End::Exited(code) => {
            // What the dyno wrote last is still in the pipe: pass it on before the exit.
            let drain = tokio::time::Instant::now() + Duration::from_secs(2);
            while output_open {
                match tokio::time::timeout_at(drain, a.output.recv()).await {
                    Ok(Some(bytes)) => {
                        let _ = session.binary(bytes).await;
                    }
                    _ => output_open = false,
                }
            }
            let _ = session.text(json!({ "type": "exit", "code": code }).to_string()).await;
            let _ = session.close(None).await;
        }
        End::ClientGone => dynos.client_gone(&target).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_parse() {
        assert_eq!(
            control(r#"{"type":"resize","cols":120,"rows":40}"#),
            Ok(Input::Resize(TermSize { rows: 40, cols: 120 }))
        );
        assert_eq!(
            control(r#"{"type":"signal","name":"INT"}"#),
            Ok(Input::Signal(Signal::Int))
        );
        assert_eq!(control(r#"{"type":"eof"}"#), Ok(Input::Eof));
        assert!(control(r#"{"type":"signal","name":"STOP"}"#).is_err());
        assert!(control(r#"{"type":"resize","cols":0,"rows":1}"#).is_err());
        assert!(control("hello").is_err());
    }
}
