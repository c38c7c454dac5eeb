//! `git http-backend`, git's own smart-HTTP server, run as a CGI per request: a clean
//! environment (never the broker's), the request body streamed to its standard input, its CGI
//! header (`Status:` and the rest) parsed, and the rest of its output streamed back.
//!
//! Its environment also carries what the pre-receive hook needs (the broker's loopback URL, the
//! pusher's token, the app's id) and, through `GIT_CONFIG_COUNT`, the settings no tenant may
//! change: the broker's hooks directory and the largest push.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tracing::{debug, warn};

use super::repos::{Git, PATH};
use crate::client::git_hook::{HOOK_ENV_API, HOOK_ENV_APP, HOOK_ENV_TOKEN};
use crate::error::{Error, Result};

/// The most header bytes a CGI answer may start with.
const MAX_HEAD: usize = 64 * 1024;
/// What a request body may hold beyond the largest push (the protocol's own lines).
const BODY_SLACK: usize = 1 << 20;

/// One request for http-backend, in CGI's terms.
pub struct CgiRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// `/<app id>.git/<endpoint>`: made by the broker from the app's id, never from the URL.
    pub path_info: String,
    /// The query string (`service=git-receive-pack`).
    pub query: String,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Length`, when the body is not chunked.
    pub content_length: Option<u64>,
    /// `Content-Encoding` (git gzips large requests).
    pub content_encoding: Option<String>,
    /// The `Git-Protocol` header (`version=2`).
    pub git_protocol: Option<String>,
    /// Who pushes or fetches (the token's subject).
    pub remote_user: String,
    /// The peer's address.
    pub remote_addr: String,
    /// The broker's own URL on loopback, for the hook.
    pub api_url: String,
    /// The caller's token, for the hook's API calls on the pusher's behalf.
    pub token: String,
    /// The app's id, for the hook.
    pub app_id: String,
}

/// The CGI header of http-backend's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    /// From `Status:` (200 without one).
    pub status: u16,
    /// Every other header, in order.
    pub headers: Vec<(String, String)>,
}

/// A running http-backend: its header, and the rest of its output as it comes.
pub struct CgiRun {
    /// The CGI header.
    pub head: CgiHead,
    /// The body.
    pub body: Pin<Box<dyn Stream<Item = std::io::Result<Vec<u8>>>>>,
}

impl Git {
    /// Runs http-backend for `request` on the app's repository (made if needed), feeding it
    /// `body`; answers once its CGI header is read. Must run on a local task set (actix's
    /// workers), since the body is fed from a local task.
    pub async fn serve<S, B, E>(&self, request: CgiRequest, body: S) -> Result<CgiRun>
    where
        S: Stream<Item = std::result::Result<B, E>> + 'static,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        self.repository(&request.app_id).await?;
        let mut cmd = tokio::process::Command::new("git");
        cmd.arg("http-backend").env_clear();
        for (k, v) in self.cgi_env(&request) {
            cmd.env(k, v);
        }
        cmd.current_dir(self.repos_dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::internal("running git http-backend (is git installed?)", e))?;
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Error::Internal("git http-backend without its pipes".into()));
        };
        let limit = self.max_input_bytes().saturating_add(BODY_SLACK);
        tokio::task::spawn_local(async move {
            let mut body = std::pin::pin!(body);
            let mut sent = 0usize;
            while let Some(chunk) = body.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        debug!(error = %e, "reading a git request body");
                        return;
                    }
                };
                sent = sent.saturating_add(chunk.as_ref().len());
                if sent > limit {
                    warn!(limit, "a git request body is larger than a push may be; cut off");
                    return;
                }
                // git stops reading when it refuses a push (receive.maxInputSize): so do we.
                if stdin.write_all(chunk.as_ref()).await.is_err() {
                    return;
                }
            }
            let _ = stdin.shutdown().await;
        });
        tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut text).await;
            let status = child.wait().await;
            if !text.is_empty() || !status.as_ref().is_ok_and(|s| s.success()) {
                warn!(?status, stderr = %String::from_utf8_lossy(&text).trim(), "git http-backend");
            }
        });
        let (head, rest) = read_head(&mut stdout).await?;
        let first = futures::stream::iter((!rest.is_empty()).then_some(Ok(rest)));
        let more = futures::stream::unfold(stdout, |mut out| async move {
            let mut buf = vec![0u8; 32 * 1024];
            match out.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(buf), out))
                }
                Err(e) => Some((Err(e), out)),
            }
        });
        Ok(CgiRun {
            head,
            body: Box::pin(first.chain(more)),
        })
    }

    /// http-backend's whole environment.
    fn cgi_env(&self, r: &CgiRequest) -> Vec<(String, String)> {
        let config = [
            ("core.hooksPath", self.hooks_dir().display().to_string()),
            ("receive.maxInputSize", self.max_input_bytes().to_string()),
            ("http.receivepack", "true".to_string()),
            ("http.uploadpack", "true".to_string()),
            ("http.getanyfile", "false".to_string()),
        ];
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), PATH.into()),
            ("HOME".into(), self.hooks_dir().display().to_string()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ("GIT_PROJECT_ROOT".into(), self.repos_dir().display().to_string()),
            ("GIT_HTTP_EXPORT_ALL".into(), "1".into()),
            ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
            ("PATH_INFO".into(), r.path_info.clone()),
            ("REQUEST_METHOD".into(), r.method.clone()),
            ("QUERY_STRING".into(), r.query.clone()),
            ("REMOTE_USER".into(), r.remote_user.clone()),
            ("REMOTE_ADDR".into(), r.remote_addr.clone()),
            ("GIT_CONFIG_COUNT".into(), config.len().to_string()),
            (HOOK_ENV_API.into(), r.api_url.clone()),
            (HOOK_ENV_TOKEN.into(), r.token.clone()),
            (HOOK_ENV_APP.into(), r.app_id.clone()),
        ];
        for (i, (k, v)) in config.into_iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), k.into()));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), v));
        }
        let optional = [
            ("CONTENT_TYPE", r.content_type.clone()),
            ("CONTENT_LENGTH", r.content_length.map(|n| n.to_string())),
            ("HTTP_CONTENT_ENCODING", r.content_encoding.clone()),
            ("GIT_PROTOCOL", r.git_protocol.clone().filter(|p| plain(p))),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                env.push((k.into(), v));
            }
        }
        env
    }
}

/// Whether a `Git-Protocol` value is made of what git puts there (`version=2:object-format=…`).
fn plain(value: &str) -> bool {
    value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=:._-".contains(&b))
}

/// Reads the CGI header (up to the blank line) from `out`; the header and what came after it.
async fn read_head<R: AsyncRead + Unpin>(out: &mut R) -> Result<(CgiHead, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some((end, skip)) = head_end(&buf) {
            let head = parse_head(&String::from_utf8_lossy(&buf[..end]))?;
            return Ok((head, buf[end + skip..].to_vec()));
        }
        if buf.len() > MAX_HEAD {
            return Err(Error::Internal("git http-backend sent an endless header".into()));
        }
        let n = out
            .read(&mut chunk)
            .await
            .map_err(|e| Error::internal("reading git http-backend's answer", e))?;
        if n == 0 {
            return Err(Error::Internal("git http-backend ended without an answer".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Where the header ends (`\r\n\r\n` or `\n\n`): its length and the separator's.
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// `Status: 404 Not Found` and `Name: value` lines.
fn parse_head(text: &str) -> Result<CgiHead> {
    let mut head = CgiHead {
        status: 200,
        headers: Vec::new(),
    };
    for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Error::Internal(format!(
                "git http-backend sent a bad header line: {line:?}"
            )));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            head.status = value
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|s| (100..600).contains(s))
                .ok_or_else(|| Error::Internal(format!("git http-backend sent a bad status: {value:?}")))?;
        } else {
            head.headers.push((name.to_string(), value.to_string()));
        }
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cgi_header_gives_its_status_and_headers_and_leaves_the_body() {
        let mut out: &[u8] = b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such repo";
        let (head, rest) = read_head(&mut out).await.unwrap();
        assert_eq!(head.status, 404);
        assert_eq!(
            head.headers,
            vec![("Content-Type".to_string(), "text/plain".to_string())]
        );
        assert_eq!(rest, b"no such repo");
        let mut plain: &[u8] = b"Content-Type: application/x-git-upload-pack-advertisement\n\n0000";
        let (head, rest) = read_head(&mut plain).await.unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(rest, b"0000");
        let mut bad: &[u8] = b"Status: nope\n\n";
        assert!(read_head(&mut bad).await.is_err());
        let mut cut: &[u8] = b"Content-Type: x\r\n";
        assert!(read_head(&mut cut).await.is_err());
    }

    #[test]
    fn only_plain_git_protocol_values_reach_git() {
        assert!(plain("version=2"));
        assert!(plain("version=2:object-format=sha256"));
        assert!(!plain("version=2\nX=1"));
        assert!(!plain("$(rm -rf /)"));
    }
}
