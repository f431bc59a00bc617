//! Serving HTTP/1 to clients Berth does not trust, for the dashboard and the proxy
//! alike: a cap on open connections (the next ones wait in the kernel's backlog
//! until one closes), and a time limit for a request's headers that also closes a
//! kept-alive connection waiting for its next request (hyper's header timer runs
//! from the moment a connection opens or goes idle; it never cuts a response that
//! is being written, such as an event stream). Plus [`Cidr`], the address ranges of
//! proxies whose forwarded headers are believed.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// What a listener allows its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's headers, and how long a
    /// kept-alive connection may wait for its next request.
    pub header_timeout: Duration,
    /// Connections served at once; the next ones wait until one closes.
    pub max_connections: usize,
}

/// Connections the dashboard serves at once unless configured otherwise; the
/// proxy's default is larger (it carries every service's traffic).
pub const MAX_CONNECTIONS: usize = 1024;
pub const PROXY_MAX_CONNECTIONS: usize = 10_000;

impl Default for Limits {
    /// The dashboard's defaults (`--header-timeout 10s`, `--max-connections`).
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// How long an answer on its way may wait for its client to read; and how long a
/// client may take over a request's body (the dashboard; the proxy's bodies are
/// bounded by its upstream timeout). A client that stops half-way is dropped,
/// instead of holding its place for ever.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection whose writes may not wait on the client longer than `limit`:
/// time passes only while a write is pending (the client is not reading), so
/// long, quiet answers (an event stream) are not cut.
pub struct WriteStall<T> {
    inner: T,
    limit: Duration,
    waiting: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteStall<T> {
    pub fn new(inner: T, limit: Duration) -> Self {
        WriteStall {
            inner,
            limit,
            waiting: None,
        }
    }

    /// `r` from a write: a pending one starts (or checks) the clock, anything
    /// else stops it.
    fn timed<R>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        r: std::task::Poll<std::io::Result<R>>,
    ) -> std::task::Poll<std::io::Result<R>> {
        use std::future::Future;
        use std::task::Poll;
        match r {
            Poll::Pending => {
                let limit = self.limit;
                let waiting = self
                    .waiting
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match waiting.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
            done => {
                self.waiting = None;
                done
            }
        }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteStall<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteStall<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.timed(cx, r)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.timed(cx, r)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Limits {
    /// hyper's HTTP/1 server with these limits: keep-alive, and the header (and
    /// idle) timer.
    pub fn http1(&self) -> http1::Builder {
        let mut b = http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .keep_alive(true);
        b
    }
}

/// Places for `limits.max_connections` connections, shared by the threads that
/// accept on one socket.
pub fn slots(limits: &Limits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limits.max_connections.max(1)))
}

/// Accepts connections on `listener` while a place is free in `slots`, and hands
/// each to `serve` with its peer's address and the permit that holds its place
/// (dropped when the connection ends). Stops accepting when the token is
/// cancelled; each connection watches the token itself.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    slots: Arc<Semaphore>,
    token: CancellationToken,
    mut serve: F,
) where
    F: FnMut(tokio::net::TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let permit = tokio::select! {
            _ = token.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = token.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait a moment, go on.
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, peer, permit));
    }
}

/// How long open connections may finish their requests at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves one connection until it ends, or until the token is cancelled: then its
/// requests in flight have [`SHUTDOWN_GRACE`] to finish.
pub async fn serve_until<S, I>(
    builder: &http1::Builder,
    stream: I,
    service: S,
    stop: CancellationToken,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder
        .serve_connection(
            TokioIo::new(WriteStall::new(stream, STALL_TIMEOUT)),
            service,
        )
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

/// Serves `router` (the dashboard and the API) on `listener` within `limits`
/// until the token is cancelled; then lets open requests finish for
/// [`SHUTDOWN_GRACE`].
pub async fn serve_router(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    token: CancellationToken,
) {
    use tower::Service;
    let mut make = router.into_make_service_with_connect_info::<SocketAddr>();
    let builder = Arc::new(limits.http1());
    let tracker = tokio_util::task::TaskTracker::new();
    let t = tracker.clone();
    let stop = token.clone();
    accept_loop(
        listener,
        slots(&limits),
        token,
        move |stream, peer, permit| {
            let builder = builder.clone();
            let stop = stop.clone();
            // Making the per-connection service cannot fail (its error is Infallible).
            let svc = futures::FutureExt::now_or_never(make.call(peer))
                .map(|r| r.unwrap_or_else(|e| match e {}));
            t.track_future(async move {
                let _permit = permit;
                let Some(svc) = svc else { return };
                let svc = hyper_util::service::TowerToHyperService::new(svc);
                serve_until(&builder, stream, svc, stop).await;
            })
        },
    )
    .await;
    tracker.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
}

/// An address range: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the range (an IPv4 address mapped into IPv6 counts as
    /// the IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("'{s}' is not an address or range: use e.g. 10.0.0.0/8 or 127.0.0.1");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped_and_a_slow_one_is_not() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Generous beside the readers' pauses: slow test machines stall too.
        let limit = Duration::from_secs(1);
        // A client that never reads: the write waits, then fails after the limit.
        let (server, _client) = tokio::io::duplex(64);
        let mut w = WriteStall::new(server, limit);
        let started = tokio::time::Instant::now();
        let err = w.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
        // A client that reads, however slowly (but within the limit each time),
        // gets everything.
        let (server, mut client) = tokio::io::duplex(64);
        let mut w = WriteStall::new(server, limit);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                tokio::time::sleep(limit / 10).await;
                match client.read(&mut buf).await.unwrap() {
                    0 => return got.len(),
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        w.write_all(&[1u8; 640]).await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), 640);
    }

    #[test]
    fn ranges() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        for bad in ["", "10.0.0.0/33", "x", "10.0.0.0/-1", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(net.to_string(), "10.0.0.0/8");
    }
}
