//! A connection to a dyno: hyper's request sender and the connection future itself, driven by
//! whoever uses the link (the request waiting for its response, then the response body on its
//! way out) instead of by a task of its own. Within a lane that saves a hand-over between two
//! tasks per request (measured: BENCHMARKS.md). A connection that becomes a WebSocket tunnel
//! is given a task, which the tunnel needs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::request_body::UpstreamBody;

/// hyper's side of a connection to a dyno.
type DynoConnection = Connection<TokioIo<TcpStream>, UpstreamBody>;

enum Driver {
    /// Polled by the link's user.
    Inline(Pin<Box<DynoConnection>>),
    /// Polled by a task of its own (an upgrade).
    Spawned,
    /// Ended: the link is not to be used again.
    Ended,
}

/// A connection to a dyno.
pub struct Link {
    /// Sends requests on it.
    pub sender: SendRequest<UpstreamBody>,
    driver: Driver,
}

impl Link {
    /// A link its users drive.
    pub fn inline(sender: SendRequest<UpstreamBody>, conn: DynoConnection) -> Link {
        Link {
            sender,
            driver: Driver::Inline(Box::pin(conn)),
        }
    }

    /// A link whose connection runs in a task, upgrades allowed (a WebSocket handshake).
    pub fn spawned(sender: SendRequest<UpstreamBody>, conn: DynoConnection) -> Link {
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Link {
            sender,
            driver: Driver::Spawned,
        }
    }

    /// Drives the connection (reads and writes what is due); ready once it has ended.
    pub fn poll_connection(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.driver {
            Driver::Inline(conn) => match conn.as_mut().poll(cx) {
                Poll::Ready(_) => {
                    self.driver = Driver::Ended;
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            },
            Driver::Spawned => Poll::Pending,
            Driver::Ended => Poll::Ready(()),
        }
    }

    /// Drives the connection until it can take a request; false when it cannot any more.
    pub async fn ready(&mut self) -> bool {
        std::future::poll_fn(|cx| {
            let _ = self.poll_connection(cx);
            self.sender.poll_ready(cx)
        })
        .await
        .is_ok()
    }

    /// Whether it may carry another request.
    pub fn reusable(&self) -> bool {
        !matches!(self.driver, Driver::Ended) && !self.sender.is_closed()
    }
}
