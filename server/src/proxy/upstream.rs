//! One proxy thread's connections to the replicas: idle HTTP/1.1 connections kept
//! by replica address, opened when none is idle, reused while the replica keeps
//! them open. Each thread has its own pool (its lock is never contended), a
//! connection is handed back as soon as its answer has been read to the end, and
//! nothing is spawned per request: one task per connection reads and writes it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

/// Idle connections kept per replica; one more finished is closed.
const MAX_IDLE: usize = 256;
/// An idle connection unused this long is closed rather than reused (the
/// replica's own keep-alive timeout may be near).
const IDLE_FOR: Duration = Duration::from_secs(30);
/// How long a connection whose answer ended may go on sending its request's
/// body before it is closed rather than kept.
const SETTLE_FOR: Duration = Duration::from_secs(5);
/// Connections put back between two sweeps of the whole pool.
const SWEEP_EVERY: u32 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the replica could not be reached: {0}")]
    Connect(#[source] std::io::Error),
    #[error("the replica did not accept a connection within {0:?}")]
    ConnectTimeout(Duration),
    #[error("the replica's connection failed at once: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("the replica's answer broke off: {0}")]
    Answer(#[source] hyper::Error),
}

/// A connection with no request on it, since `since`.
struct Idle {
    tx: SendRequest<Body>,
    since: Instant,
}

/// Idle connections by replica address (`ip:port`).
pub struct Pool {
    idle: Mutex<Idles>,
    connect_timeout: Duration,
}

#[derive(Default)]
struct Idles {
    /// Oldest first: the newest is taken, the oldest dropped.
    by_addr: HashMap<Arc<str>, Vec<Idle>>,
    /// Connections put back since the last sweep.
    puts: u32,
}

/// A connection lent to one request, with the address it goes back under.
pub struct Lease {
    tx: SendRequest<Body>,
    authority: Arc<str>,
    pool: Arc<Pool>,
    reused: bool,
}

impl Pool {
    pub fn new(connect_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            idle: Mutex::new(Idles::default()),
            connect_timeout,
        })
    }

    /// A connection to `authority`: an idle one that is still open (unless
    /// `fresh`), else a new one.
    pub async fn connection(
        self: &Arc<Self>,
        authority: &Arc<str>,
        fresh: bool,
    ) -> Result<Lease, UpstreamError> {
        if !fresh {
            if let Some(tx) = self.take_idle(authority) {
                return Ok(self.lease(tx, authority, true));
            }
        }
        let tx = self.connect(authority).await?;
        Ok(self.lease(tx, authority, false))
    }

    fn lease(self: &Arc<Self>, tx: SendRequest<Body>, authority: &Arc<str>, reused: bool) -> Lease {
        Lease {
            tx,
            authority: authority.clone(),
            pool: self.clone(),
            reused,
        }
    }

    /// The newest idle connection that can take a request now.
    fn take_idle(&self, authority: &str) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().expect("upstream pool lock");
        let list = idle.by_addr.get_mut(authority)?;
        while let Some(i) = list.pop() {
            if i.since.elapsed() >= IDLE_FOR {
                // The older ones waited longer still.
                list.clear();
                return None;
            }
            if i.tx.is_ready() {
                return Some(i.tx);
            }
        }
        None
    }

    /// Keeps a connection whose answer was read to the end. One still sending
    /// its request's body (the replica answered early, say a 413) is kept once
    /// that is done, and closed if it takes longer than [`SETTLE_FOR`]: no other
    /// request waits behind it.
    fn give_back(self: Arc<Self>, lease: Lease) {
        if lease.tx.is_ready() {
            return self.put(lease);
        }
        // Closed, or dropped as the thread's runtime shuts down: nothing to keep.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if lease.tx.is_closed() {
            return;
        }
        runtime.spawn(async move {
            let mut lease = lease;
            if let Ok(Ok(())) = tokio::time::timeout(SETTLE_FOR, lease.tx.ready()).await {
                self.put(lease);
            }
        });
    }

    fn put(&self, lease: Lease) {
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("upstream pool lock");
        idle.puts += 1;
        if idle.puts >= SWEEP_EVERY {
            // Replicas gone (or no longer sent to) leave no entries behind.
            idle.puts = 0;
            idle.by_addr.retain(|_, list| {
                list.retain(|i| !i.tx.is_closed() && now - i.since < IDLE_FOR);
                !list.is_empty()
            });
        }
        let list = idle.by_addr.entry(lease.authority).or_default();
        if list.len() >= MAX_IDLE {
            list.remove(0);
        }
        list.push(Idle {
            tx: lease.tx,
            since: now,
        });
    }

    async fn connect(&self, authority: &str) -> Result<SendRequest<Body>, UpstreamError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect(authority),
        )
        .await
        .map_err(|_| UpstreamError::ConnectTimeout(self.connect_timeout))?
        .map_err(UpstreamError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (tx, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Handshake)?;
        // The connection's own task; it ends when the replica closes it or the
        // pool drops its sender.
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "proxy: a connection to a replica failed");
            }
        });
        Ok(tx)
    }
}

/// Why a request did not get an answer's head.
pub enum SendFailed {
    /// Nothing of it was sent (a kept connection the replica had just closed):
    /// here it is back, to be sent again.
    Unsent(Request<Body>),
    /// No connection could be had, or a new one closed before the request went
    /// out: here it is back, for another replica.
    Unreached(UpstreamError, Request<Body>),
    /// It was sent (some of it, at least) and no answer came: not sent again.
    Failed(UpstreamError),
    /// The client's own body broke off while it was being sent: the client's
    /// doing, not the replica's.
    ClientBody(hyper::Error),
}

impl Lease {
    /// Sends `req` and waits for the answer's head. A request without `Host`
    /// (HTTP/1.0) names the replica.
    pub async fn send(
        mut self,
        mut req: Request<Body>,
    ) -> Result<(Response<Incoming>, Lease), SendFailed> {
        if !req.headers().contains_key(header::HOST) {
            if let Ok(v) = HeaderValue::from_str(&self.authority) {
                req.headers_mut().insert(header::HOST, v);
            }
        }
        match self.tx.try_send_request(req).await {
            Ok(resp) => Ok((resp, self)),
            Err(mut e) => match e.take_message() {
                Some(req) if self.reused => Err(SendFailed::Unsent(req)),
                Some(req) => Err(SendFailed::Unreached(
                    UpstreamError::Handshake(e.into_error()),
                    req,
                )),
                None if e.error().is_user() => Err(SendFailed::ClientBody(e.into_error())),
                None => Err(SendFailed::Failed(UpstreamError::Answer(e.into_error()))),
            },
        }
    }

    /// The answer's body, which hands the connection back when it ends and
    /// holds `guard` (the request counted in flight) until it is dropped.
    pub fn returning<G>(self, body: Incoming, guard: G) -> Returning<G> {
        Returning {
            inner: body,
            ended: false,
            lease: Some(self),
            _guard: guard,
        }
    }
}

/// A replica's answer, streamed; its connection goes back to the pool once the
/// answer has been read to its end, and is closed if the client stops before.
pub struct Returning<G> {
    inner: Incoming,
    ended: bool,
    lease: Option<Lease>,
    _guard: G,
}

impl<G> Drop for Returning<G> {
    fn drop(&mut self) {
        // An empty answer (204, 304, HEAD) is never polled: it ended all the same.
        if self.ended || hyper::body::Body::is_end_stream(&self.inner) {
            if let Some(lease) = self.lease.take() {
                lease.pool.clone().give_back(lease);
            }
        }
    }
}

impl<G: Unpin> hyper::body::Body for Returning<G> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(None) => self.ended = true,
            // hyper's server reads no further after the trailers.
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => self.ended = true,
            // A connection whose answer broke off is not used again.
            Poll::Ready(Some(Err(_))) => self.lease = None,
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
