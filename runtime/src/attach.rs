//! Interactive containers: the attach contract ([`ContainerIo`], [`Attachment`], [`Input`]) and
//! the local backend's plumbing behind it (a PTY, or a socket pair, held by the broker).
//!
//! The contract is channel-shaped so that every backend can implement it the same way:
//!
//! - Docker: the container is created with `OpenStdin` (and `Tty` for a terminal); `output` is
//!   the hijacked `POST /containers/{id}/attach` stream, `Input::Data` is written to it,
//!   `Input::Resize` is `POST /containers/{id}/resize`, `Input::Signal` is
//!   `POST /containers/{id}/kill?signal=…` and `Input::Eof` half-closes the attach stream.
//! - Kubernetes: the pod is created with `stdin`/`tty`; `output` and `input` are the channels of
//!   the `pods/attach` subresource, `Input::Resize` goes to its resize channel (4), a signal is
//!   a `kill` exec in the pod and `Input::Eof` closes the stdin channel.
//!
//! In the local backend the broker process holds the PTY master (or its end of the socket
//! pair): an interactive container ends when the broker does (the terminal hangs up, the input
//! closes). Formation and other logged containers do not depend on the broker staying alive.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::cgroup::Cgroups;
use crate::{Result, RuntimeError};

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermSize {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// How a container's standard streams are connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ContainerIo {
    /// No input; stdout and stderr go to the container's output log (every formation dyno).
    #[default]
    Logged,
    /// Attachable once with [`crate::Runtime::attach`]. With `tty`, the command runs on a
    /// terminal of this initial size that is its controlling terminal (job control, `stty size`,
    /// Ctrl-C typed as byte 3); without, stdin is a stream and stdout and stderr are merged into
    /// one. The output is also appended to the container's output log.
    Interactive {
        /// The terminal's initial size, or `None` for no terminal.
        tty: Option<TermSize>,
    },
}

impl ContainerIo {
    /// True for [`ContainerIo::Interactive`].
    pub fn is_interactive(&self) -> bool {
        matches!(self, ContainerIo::Interactive { .. })
    }
}

/// A signal an attached client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGTERM.
    Term,
    /// SIGHUP.
    Hup,
    /// SIGKILL.
    Kill,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
}

impl Signal {
    /// The signal of a name such as `INT` or `SIGINT` (any case).
    pub fn from_name(name: &str) -> Option<Signal> {
        let upper = name.to_ascii_uppercase();
        Some(match upper.strip_prefix("SIG").unwrap_or(&upper) {
            "INT" => Signal::Int,
            "QUIT" => Signal::Quit,
            "TERM" => Signal::Term,
            "HUP" => Signal::Hup,
            "KILL" => Signal::Kill,
            "USR1" => Signal::Usr1,
            "USR2" => Signal::Usr2,
            _ => return None,
        })
    }

    fn to_nix(self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal as S;
        match self {
            Signal::Int => S::SIGINT,
            Signal::Quit => S::SIGQUIT,
            Signal::Term => S::SIGTERM,
            Signal::Hup => S::SIGHUP,
            Signal::Kill => S::SIGKILL,
            Signal::Usr1 => S::SIGUSR1,
            Signal::Usr2 => S::SIGUSR2,
        }
    }
}

/// What an attached client sends to a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes for its stdin (keystrokes, with a terminal).
    Data(Vec<u8>),
    /// The client's window changed size (ignored without a terminal).
    Resize(TermSize),
    /// A signal: with a terminal, to its foreground process group; without, to every process
    /// of the container.
    Signal(Signal),
    /// End of input: closes stdin, or types the terminal's end-of-file character (Ctrl-D).
    Eof,
}

/// A live attachment to an interactive container.
#[derive(Debug)]
pub struct Attachment {
    /// True when the container runs on a terminal.
    pub tty: bool,
    /// Its output, from its first byte, in order; ends when the container closed its output.
    pub output: mpsc::Receiver<Vec<u8>>,
    /// Where input and controls go.
    pub input: mpsc::Sender<Input>,
}

/// The attachments of the local backend's containers: `Some` until taken, `None` once taken.
pub(crate) type Sessions = Arc<Mutex<HashMap<String, Option<Attachment>>>>;

/// Takes the attachment of `id` out of `sessions`.
pub(crate) fn take(sessions: &Sessions, id: &str) -> Result<Attachment> {
    let mut map = sessions
        .lock()
        .map_err(|_| RuntimeError::Host("attach sessions poisoned".into()))?;
    match map.get_mut(id) {
        Some(slot) => slot
            .take()
            .ok_or_else(|| RuntimeError::Conflict(format!("container {id} is already attached"))),
        None => Err(RuntimeError::Invalid(format!(
            "container {id} is not attachable: it is not interactive, or the process that held its terminal ended"
        ))),
    }
}

/// The broker's side of an interactive container's streams, before it starts.
pub(crate) enum Plumbing {
    /// A PTY: the master, and the slave the container's stdin, stdout and stderr are.
    Pty { pty: pty_process::Pty, pts: OwnedFd },
    /// A socket pair: ours, and theirs (stdin, stdout and stderr of the container).
    Socket {
        ours: std::os::unix::net::UnixStream,
        theirs: OwnedFd,
    },
}

fn host(what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Host(format!("{what}: {e}"))
}

/// Held while a terminal is opened and while a container is spawned: `pty_process::open`
/// marks the terminal's descriptors close-on-exec only after opening them, and a container
/// spawned on another thread in that gap would inherit another session's terminal.
pub(crate) static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Plumbing {
    /// The plumbing `io` needs, if any.
    pub(crate) fn new(io: &ContainerIo) -> Result<Option<Plumbing>> {
        match io {
            ContainerIo::Logged => Ok(None),
            ContainerIo::Interactive { tty: Some(size) } => {
                let opened = {
                    let _spawning = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
                    pty_process::open()
                };
                let (pty, pts) = opened.map_err(|e| host("opening a terminal", e))?;
                pty.resize(pty_process::Size::new(size.rows, size.cols))
                    .map_err(|e| host("sizing the terminal", e))?;
                let pts = std::os::fd::AsFd::as_fd(&pts)
                    .try_clone_to_owned()
                    .map_err(|e| host("opening the terminal", e))?;
                Ok(Some(Plumbing::Pty { pty, pts }))
            }
            ContainerIo::Interactive { tty: None } => {
                let (ours, theirs) =
                    std::os::unix::net::UnixStream::pair().map_err(|e| host("opening a socket pair", e))?;
                Ok(Some(Plumbing::Socket {
                    ours,
                    theirs: theirs.into(),
                }))
            }
        }
    }

    /// True for a terminal.
    pub(crate) fn tty(&self) -> bool {
        matches!(self, Plumbing::Pty { .. })
    }

    /// The wrapper's stdout and stderr: the container's end. Its stdin carries bubblewrap's
    /// arguments; inside the sandbox fd 0 becomes a copy of fd 1 (both ends are open for
    /// reading and writing).
    pub(crate) fn child_stdio(&self) -> Result<(std::process::Stdio, std::process::Stdio)> {
        let fd = match self {
            Plumbing::Pty { pts, .. } => pts,
            Plumbing::Socket { theirs, .. } => theirs,
        };
        let dup = || fd.try_clone().map_err(|e| host("duplicating the container's end", e));
        Ok((dup()?.into(), dup()?.into()))
    }

    /// Starts moving bytes once the container runs (its end is dropped here, so that the
    /// output ends when the container's processes close it). `log` gets a copy of the output;
    /// `signal` delivers a signal to every process of the container.
    pub(crate) fn start(self, log: File, signal: Box<dyn Fn(Signal) + Send + Sync>) -> Result<Attachment> {
        // Enough to hold a screenful while nobody is attached; then the container blocks.
        let (out_tx, out_rx) = mpsc::channel(256);
        let (in_tx, in_rx) = mpsc::channel(256);
        let tty = self.tty();
        match self {
            Plumbing::Pty { pty, pts } => {
                drop(pts);
                let control = std::os::fd::AsFd::as_fd(&pty)
                    .try_clone_to_owned()
                    .map_err(|e| host("duplicating the terminal", e))?;
                let (r, w) = pty.into_split();
                tokio::spawn(pump(r, log, out_tx));
                tokio::spawn(feed(Writer::Pty(w, control), in_rx, signal));
            }
            Plumbing::Socket { ours, theirs } => {
                drop(theirs);
                ours.set_nonblocking(true).map_err(|e| host("socket", e))?;
                let stream = tokio::net::UnixStream::from_std(ours).map_err(|e| host("socket", e))?;
                let (r, w) = stream.into_split();
                tokio::spawn(pump(r, log, out_tx));
                tokio::spawn(feed(Writer::Socket(Some(w)), in_rx, signal));
            }
        }
        Ok(Attachment {
            tty,
            output: out_rx,
            input: in_tx,
        })
    }
}

/// Copies the container's output to its log and to the attachment, until the container closes
/// it (a PTY master reads EIO then). Without a reader the log still gets everything.
async fn pump(mut from: impl AsyncRead + Unpin, mut log: File, to: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let _ = log.write_all(&buf[..n]);
        let _ = to.send(buf[..n].to_vec()).await;
    }
}

/// The broker's writing end.
enum Writer {
    /// The PTY master, and a copy of it for `tcgetpgrp`.
    Pty(pty_process::OwnedWritePty, OwnedFd),
    /// Our end of the socket pair, `None` once input ended.
    Socket(Option<tokio::net::unix::OwnedWriteHalf>),
}

/// The terminal's end-of-file character (VEOF's default, Ctrl-D).
const EOF_CHAR: u8 = 4;

/// Applies the client's input to the container until the client goes.
async fn feed(mut w: Writer, mut input: mpsc::Receiver<Input>, signal: Box<dyn Fn(Signal) + Send + Sync>) {
    while let Some(i) = input.recv().await {
        match (i, &mut w) {
            (Input::Data(bytes), Writer::Pty(p, _)) => {
                let _ = p.write_all(&bytes).await;
            }
            (Input::Data(bytes), Writer::Socket(Some(s))) => {
                let _ = s.write_all(&bytes).await;
            }
            (Input::Data(_) | Input::Eof, Writer::Socket(None)) => {}
            (Input::Resize(size), Writer::Pty(p, _)) => {
                let _ = p.resize(pty_process::Size::new(size.rows, size.cols));
            }
            (Input::Resize(_), Writer::Socket(_)) => {}
            (Input::Signal(s), Writer::Pty(_, control)) => {
                // The terminal's foreground process group, as the line discipline would signal
                // it for a typed Ctrl-C; the processes outside the terminal's session (the
                // sandbox's init and its launcher) are not disturbed.
                if let Ok(pgrp) = nix::unistd::tcgetpgrp(&*control) {
                    let _ = nix::sys::signal::killpg(pgrp, s.to_nix());
                }
            }
            (Input::Signal(s), Writer::Socket(_)) => signal(s),
            (Input::Eof, Writer::Pty(p, _)) => {
                let _ = p.write_all(&[EOF_CHAR]).await;
            }
            (Input::Eof, Writer::Socket(s)) => {
                if let Some(mut half) = s.take() {
                    let _ = half.shutdown().await;
                }
            }
        }
    }
}

/// Makes the command a session leader whose controlling terminal is its stdin (the PTY).
pub(crate) const SETSID: &str = "/usr/bin/setsid";

/// The broker's own namespaces: a container's processes are in none of them.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostNamespaces {
    pid: String,
    /// The network namespace, when containers have their own (pasta's process, in the
    /// container's cgroup and a PID namespace of its own since pasta 2025, stays in it).
    net: Option<String>,
}

impl HostNamespaces {
    /// This process's namespaces; `isolated` when containers get networks of their own.
    pub(crate) fn own(isolated: bool) -> HostNamespaces {
        let ns = |kind: &str| {
            std::fs::read_link(format!("/proc/self/ns/{kind}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        HostNamespaces {
            pid: ns("pid"),
            net: isolated.then(|| ns("net")),
        }
    }

    /// Whether `pid` lives outside every one of them.
    fn outside(&self, pid: i32) -> bool {
        let ns = |kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).map(|p| p.display().to_string());
        let Ok(pid_ns) = ns("pid") else { return false };
        if pid_ns == self.pid {
            return false;
        }
        match &self.net {
            Some(host) => ns("net").is_ok_and(|n| &n != host),
            None => true,
        }
    }
}

/// Processes of the container `id` that live inside its namespaces (the command and its
/// children, and the namespace's init, which ignores signals it has no handler for): not the
/// wrapper, setpriv or pasta.
pub(crate) fn inner_procs(cgroups: &Cgroups, host: &HostNamespaces, id: &str) -> Vec<i32> {
    cgroups.procs(id).into_iter().filter(|pid| host.outside(*pid)).collect()
}

/// Sends `signal` to each of `pids`.
pub(crate) fn signal_all(pids: &[i32], signal: Signal) {
    for pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), signal.to_nix());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(Signal::from_name("INT"), Some(Signal::Int));
        assert_eq!(Signal::from_name("sigterm"), Some(Signal::Term));
        assert_eq!(Signal::from_name("STOP"), None);
    }

    #[test]
    fn io_serializes_with_a_default() {
        let io = ContainerIo::Interactive {
            tty: Some(TermSize { rows: 24, cols: 80 }),
        };
        let text = serde_json::to_string(&io).unwrap_or_default();
        assert_eq!(serde_json::from_str::<ContainerIo>(&text).ok(), Some(io));
        assert_eq!(ContainerIo::default(), ContainerIo::Logged);
    }

    #[test]
    fn an_attachment_is_taken_once() {
        let sessions: Sessions = Arc::default();
        assert!(matches!(take(&sessions, "x"), Err(RuntimeError::Invalid(_))));
        let (_, output) = mpsc::channel(1);
        let (input, _) = mpsc::channel(1);
        let a = Attachment {
            tty: false,
            output,
            input,
        };
        sessions.lock().map(|mut m| m.insert("x".into(), Some(a))).ok();
        assert!(take(&sessions, "x").is_ok());
        assert!(matches!(take(&sessions, "x"), Err(RuntimeError::Conflict(_))));
    }
}
