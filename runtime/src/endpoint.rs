//! Where the platform reaches a container's inbound port: an address, and for the local
//! backend with a network namespace per container, that namespace.
//!
//! Through pasta's inbound forward every byte crosses pasta's user-space splice, which costs
//! about as much CPU as the proxy in front of it (BENCHMARKS.md). A broker allowed to enter
//! the namespaces (root, `CAP_SYS_ADMIN`) makes the socket inside the container's namespace
//! instead and connects to the container's own loopback: same port, no forwarder in the
//! path. A Docker backend gives the container's address on its network; a Kubernetes backend
//! the pod's.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::sched::{setns, CloneFlags};
use tokio::net::{TcpSocket, TcpStream};

/// Where a container's inbound port is reached.
#[derive(Debug, Clone)]
pub struct Endpoint {
    addr: SocketAddr,
    /// The container's network namespace, when the socket is made inside it.
    netns: Option<Arc<OwnedFd>>,
}

impl PartialEq for Endpoint {
    fn eq(&self, other: &Endpoint) -> bool {
        self.addr == other.addr
            && match (&self.netns, &other.netns) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for Endpoint {}

impl Endpoint {
    /// An address the host reaches as it is.
    pub fn tcp(addr: SocketAddr) -> Endpoint {
        Endpoint { addr, netns: None }
    }

    /// `addr` inside the network namespace `netns` (an open `/proc/PID/ns/net`: the namespace
    /// lives as long as the descriptor, so a reused PID cannot redirect it).
    pub fn in_namespace(netns: OwnedFd, addr: SocketAddr) -> Endpoint {
        Endpoint {
            addr,
            netns: Some(Arc::new(netns)),
        }
    }

    /// The address connected to (inside the namespace, when there is one).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the connection is made inside the container's namespace.
    pub fn in_own_namespace(&self) -> bool {
        self.netns.is_some()
    }

    /// Connects to it.
    pub async fn connect(&self) -> io::Result<TcpStream> {
        match &self.netns {
            None => TcpStream::connect(self.addr).await,
            Some(ns) => socket_in(ns, self.addr)?.connect(self.addr).await,
        }
    }
}

thread_local! {
    /// This thread's own network namespace, to return to (opened before it ever leaves).
    static HOME: Option<OwnedFd> = File::open("/proc/thread-self/ns/net").ok().map(OwnedFd::from);
}

/// A socket made inside `netns`: the namespace is a thread's, so the thread enters it, makes
/// the socket (which stays in that namespace) and returns before anything else runs on it.
fn socket_in(netns: &OwnedFd, addr: SocketAddr) -> io::Result<TcpSocket> {
    HOME.with(|home| {
        let home = home
            .as_ref()
            .ok_or_else(|| io::Error::other("this thread's network namespace cannot be opened"))?;
        setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        };
        if setns(home.as_fd(), CloneFlags::CLONE_NEWNET).is_err() {
            // Every later socket of this thread would be made in a container's network:
            // there is no safe way on.
            eprintln!("fatal: cannot return to the broker's network namespace");
            std::process::abort();
        }
        socket
    })
}

/// Whether this process may enter other network namespaces (it may enter its own).
pub fn can_enter_namespaces() -> bool {
    HOME.with(|home| {
        home.as_ref()
            .is_some_and(|h| setns(h.as_fd(), CloneFlags::CLONE_NEWNET).is_ok())
    })
}
