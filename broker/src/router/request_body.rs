//! The client's request body on its way to a dyno, frame by frame, never held whole
//! ([`UpstreamBody`]), remembering whether the client broke off or every byte went through.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// How a request body's relay went.
#[derive(Debug, Default)]
pub struct BodyState {
    /// The client's stream failed (it went away mid-upload: `H27`).
    pub client_failed: AtomicBool,
    /// Every byte was passed on.
    pub finished: AtomicBool,
    ended: tokio::sync::Notify,
}

impl BodyState {
    /// Resolves once the body was passed on whole, or broke off.
    pub async fn ended(&self) {
        let over = || self.finished.load(Ordering::Acquire) || self.client_failed.load(Ordering::Acquire);
        // Most requests have no body: done without registering for a wake-up.
        if over() {
            return;
        }
        loop {
            let woken = self.ended.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if over() {
                return;
            }
            woken.await;
        }
    }
}

/// The client's request body, passed to the dyno as it arrives.
pub struct UpstreamBody {
    inner: Incoming,
    state: Arc<BodyState>,
}

impl UpstreamBody {
    /// Wraps a client's body; `state` tells afterwards how its relay went.
    pub fn new(inner: Incoming, state: Arc<BodyState>) -> UpstreamBody {
        // A request without a body may never be polled: it is whole already.
        if inner.is_end_stream() {
            state.finished.store(true, Ordering::Release);
        }
        UpstreamBody { inner, state }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let end = match &polled {
            Poll::Ready(None) => &self.state.finished,
            Poll::Ready(Some(Err(_))) => &self.state.client_failed,
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => &self.state.finished,
            _ => return polled,
        };
        end.store(true, Ordering::Release);
        self.state.ended.notify_waiters();
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
