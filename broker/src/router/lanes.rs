//! The router's threads ("lanes"): one single-threaded runtime per core, each accepting on a
//! socket of its own bound to the same port (`SO_REUSEPORT`: the kernel spreads connections
//! over them). A request, the dyno connection it uses and the response then stay on one
//! thread, with no wake-ups across threads: nginx's worker model, measured faster here than
//! one shared multi-threaded runtime (BENCHMARKS.md).

use std::cell::Cell;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

use crate::error::{Error, Result};

/// Most lanes, whatever the core count.
const MAX_LANES: usize = 8;

thread_local! {
    static LANE: Cell<usize> = const { Cell::new(0) };
    static IN_LANE: Cell<bool> = const { Cell::new(false) };
}

/// How many lanes to run: one per core, at most [`MAX_LANES`].
pub fn count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_LANES)
}

/// The lane this thread is (0 outside the router's threads).
pub fn current() -> usize {
    LANE.with(Cell::get)
}

/// Whether this thread is one of the router's lanes.
pub fn in_lane() -> bool {
    IN_LANE.with(Cell::get)
}

/// A listener on `addr` that other sockets may share ([`sibling`]).
pub fn listen(addr: &str) -> Result<TcpListener> {
    let at: SocketAddr = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Error::Internal(format!("router: {addr:?} is not an address to listen on")))?;
    bound(at).map_err(|e| Error::internal(format!("router: listening on {addr}"), e))
}

/// Another listener on the same address and port as `l`.
pub fn sibling(l: &TcpListener) -> std::io::Result<TcpListener> {
    bound(l.local_addr()?)
}

fn bound(at: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(at), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&at.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Runs `work` on a new thread with a single-threaded runtime of its own, as lane `lane`.
pub fn spawn<F, Fut>(lane: usize, work: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new()
        .name(format!("router-{lane}"))
        .spawn(move || {
            LANE.with(|l| l.set(lane));
            IN_LANE.with(|l| l.set(true));
            runtime.block_on(work());
        })
}
