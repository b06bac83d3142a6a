//! Request bodies must keep coming. A client that sends a body a byte at a time (slowloris
//! for bodies, "R.U.D.Y.") would otherwise hold its connection and whatever reads the body
//! (the sign-in form, a proxied upload) for as long as it likes: actix times request heads,
//! never bodies, and oauth2-proxy (Go) has no body timeout either.
//!
//! The rule is Kestrel's default: after a grace of 5 s, the body must have arrived at 240
//! bytes per second or more, counting only the time spent waiting for the client (not the time
//! the reader was busy, say a slow upstream taking the upload). A body that falls behind ends
//! in an error; the reader answers it, and the connection, its body unread, is closed.
//!
//! Never: limits a body's size (the readers do), touches an HTTP/1 request without a body, or
//! paces a WebSocket.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_core::Stream;
use tokio::time::Sleep;

/// Waiting this long for a body is always allowed.
pub const GRACE: Duration = Duration::from_secs(5);
/// After the grace, the body must average at least this many bytes per second of waiting.
pub const MIN_BYTES_PER_SECOND: f64 = 240.0;

/// Paces the request's body, when it may have one: a length above zero, chunked, or any
/// HTTP/2 request (its body need not announce a length). Not a WebSocket handshake: what
/// follows it is the socket, which may rightly stay quiet.
pub fn pace(req: &mut ServiceRequest) {
    use actix_web::http::{Version, header};
    let headers = req.headers();
    if headers.contains_key(header::UPGRADE) {
        return;
    }
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let sized = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0");
    if !(chunked || sized || req.version() == Version::HTTP_2) {
        return;
    }
    let body = MinRate::new(req.take_payload());
    req.set_payload(Payload::from(Box::pin(body) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>));
}

/// A body that errors once it falls behind [`MIN_BYTES_PER_SECOND`].
pub struct MinRate<S> {
    inner: S,
    received: u64,
    grace: Duration,
    bytes_per_second: f64,
    /// Time spent waiting for the client so far, not counting the current wait.
    waited: Duration,
    /// When the current wait began (the body had nothing, and the reader was waiting).
    waiting_since: Option<Instant>,
    /// Made at the first wait: a body that never makes its reader wait costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> MinRate<S> {
    pub fn new(inner: S) -> Self {
        MinRate::with(inner, GRACE, MIN_BYTES_PER_SECOND)
    }

    /// With another grace and rate (the tests' are short).
    pub fn with(inner: S, grace: Duration, bytes_per_second: f64) -> Self {
        MinRate { inner, received: 0, grace, bytes_per_second, waited: Duration::ZERO, waiting_since: None, timer: None }
    }

    /// How long waiting is allowed in all, for what has arrived so far.
    fn allowed(&self) -> Duration {
        self.grace.max(Duration::from_secs_f64(self.received as f64 / self.bytes_per_second))
    }

    fn stop_waiting(&mut self) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
        }
    }
}

impl<S> Stream for MinRate<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                this.stop_waiting();
                this.received += bytes.len() as u64;
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(other) => {
                this.stop_waiting();
                Poll::Ready(other)
            }
            Poll::Pending => {
                let since = *this.waiting_since.get_or_insert_with(Instant::now);
                let allowed = this.allowed();
                let deadline = since + allowed.saturating_sub(this.waited);
                if Instant::now() >= deadline {
                    this.stop_waiting();
                    let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body arrived too slowly");
                    return Poll::Ready(Some(Err(PayloadError::Io(e))));
                }
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
                if timer.deadline() != deadline.into() {
                    timer.as_mut().reset(deadline.into());
                }
                // Wakes this task when the deadline passes with nothing more arrived.
                let _ = timer.as_mut().poll(cx);
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// A body that sends `chunk` every `every`, for ever.
    fn trickle(chunk: usize, every: Duration) -> impl Stream<Item = Result<Bytes, PayloadError>> + Unpin {
        Box::pin(futures_util::stream::unfold((), move |_| async move {
            tokio::time::sleep(every).await;
            Some((Ok(Bytes::from(vec![b'x'; chunk])), ()))
        }))
    }

    const GRACE: Duration = Duration::from_millis(300);
    /// 100 bytes a second after 300 ms: the real rule (240 bytes a second after 5 s) scaled down.
    fn paced<S>(inner: S) -> MinRate<S> {
        MinRate::with(inner, GRACE, 100.0)
    }

    #[actix_web::test]
    async fn a_body_a_byte_at_a_time_is_cut_after_the_grace() {
        let mut body = paced(trickle(1, Duration::from_millis(50)));
        let started = Instant::now();
        let mut got = 0;
        // Bounded, so a regression fails here instead of hanging the suite.
        let err = tokio::time::timeout(GRACE * 10, async {
            loop {
                match body.next().await {
                    Some(Ok(b)) => got += b.len(),
                    Some(Err(e)) => break e,
                    None => panic!("ended"),
                }
            }
        })
        .await
        .expect("a body a byte at a time was never cut");
        assert!(matches!(err, PayloadError::Io(_)), "{err:?}");
        let took = started.elapsed();
        assert!(got >= 4 && took >= GRACE && took < GRACE * 3, "{got} bytes in {took:?}");
    }

    #[actix_web::test]
    async fn a_body_that_stops_is_cut_after_the_grace_and_what_it_sent() {
        // 60 bytes at once buy 600 ms of waiting (100 bytes a second); then nothing comes.
        let once = futures_util::stream::iter([Ok(Bytes::from(vec![b'x'; 60]))]).chain(futures_util::stream::pending());
        let mut body = paced(Box::pin(once));
        let started = Instant::now();
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().await.unwrap().is_err());
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(600) && took < Duration::from_millis(900), "{took:?}");
    }

    #[actix_web::test]
    async fn a_body_at_a_walking_pace_arrives_whole() {
        // 20 bytes every 50 ms (400 bytes a second), for a second and a half.
        let mut body = paced(trickle(20, Duration::from_millis(50)).take(30));
        let mut got = 0;
        while let Some(chunk) = body.next().await {
            got += chunk.unwrap().len();
        }
        assert_eq!(got, 30 * 20);
    }

    #[actix_web::test]
    async fn time_the_reader_spends_elsewhere_does_not_count() {
        // The client sends fast; the reader takes far longer than the grace between reads.
        let mut body = paced(trickle(1, Duration::from_millis(5)).take(4));
        for _ in 0..4 {
            assert!(body.next().await.unwrap().is_ok());
            tokio::time::sleep(GRACE * 2).await;
        }
    }
}
