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
}

/// The client's request body, passed to the dyno as it arrives.
pub struct UpstreamBody {
    inner: Incoming,
    state: Arc<BodyState>,
}

impl UpstreamBody {
    /// Wraps a client's body; `state` tells afterwards how its relay went.
    pub fn new(inner: Incoming, state: Arc<BodyState>) -> UpstreamBody {
        UpstreamBody { inner, state }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.state.finished.store(true, Ordering::Release),
            Poll::Ready(Some(Err(_))) => self.state.client_failed.store(true, Ordering::Release),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
