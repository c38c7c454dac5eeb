//! The router's answers: its own pages, or a dyno's response streamed back frame by frame
//! ([`Relayed`], which counts bytes, hands the connection back for reuse and writes the log
//! line when it ends).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::link::Link;
use super::pool::InFlight;

/// What the router answers with: its own page, or a dyno's response relayed.
pub type RouterBody = Either<Full<Bytes>, Relayed>;

/// What is called once a relayed response ends: with the bytes sent and whether the response
/// was read whole.
pub type OnEnd = Box<dyn FnOnce(u64, bool) + Send>;

/// A dyno's response body on its way to the client.
pub struct Relayed {
    inner: Incoming,
    bytes: u64,
    ended: bool,
    /// The connection, handed back to the backend once the response is read whole.
    link: Option<Link>,
    /// Keeps the request counted on its backend until the body is done.
    inflight: Option<InFlight>,
    on_end: Option<OnEnd>,
}

impl Relayed {
    /// Relays `inner`, driving `link`, which returns to the backend of `inflight` when it
    /// ends cleanly, and `on_end` runs once either way.
    pub fn new(inner: Incoming, link: Option<Link>, inflight: InFlight, on_end: OnEnd) -> Relayed {
        Relayed {
            inner,
            bytes: 0,
            ended: false,
            link,
            inflight: Some(inflight),
            on_end: Some(on_end),
        }
    }
}

impl Body for Relayed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        // The connection feeds the body: drive it first (its wake-ups are registered too).
        if let Some(link) = self.link.as_mut() {
            let _ = link.poll_connection(cx);
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.ended = true,
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

impl Drop for Relayed {
    fn drop(&mut self) {
        // A body with nothing in it (HEAD, 204, 304) may be dropped unpolled: it is complete.
        let whole = self.ended || self.inner.is_end_stream();
        if let (true, Some(link), Some(inflight)) = (whole, self.link.take(), &self.inflight) {
            inflight.backend().put_idle(link);
        }
        self.inflight = None;
        if let Some(on_end) = self.on_end.take() {
            on_end(self.bytes, whole);
        }
    }
}

/// A page of the router's own.
pub fn page(text: String) -> RouterBody {
    Either::Left(Full::new(Bytes::from(text)))
}
