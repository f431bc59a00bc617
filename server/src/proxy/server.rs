//! The proxy's listener and forwarding. Each request: find the route by Host and
//! path (404 when none), pick a replica (503 when the service has none healthy),
//! pass the request on over a keep-alive pool with its body streamed, hop-by-hop
//! headers removed and `X-Forwarded-*` added, and stream the answer back (504 when
//! the replica takes too long). A replica that cannot be reached is ejected for a
//! while and the request goes to another one, when its body can be sent again.
//! Upgrades (websockets) are passed through both ways.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_util::sync::CancellationToken;

use super::stats::BackendStats;
use super::table::{self, Live};
use super::Proxy;

/// Bodies up to this size are kept, so the request can go to another replica when
/// the first cannot be reached; larger ones are streamed once.
const REPLAY_LIMIT: u64 = 64 * 1024;
/// Replicas tried for one request.
const ATTEMPTS: usize = 3;
/// Connect failures in a row that eject a replica.
const EJECT_AFTER: u64 = 1;

struct Forwarder {
    proxy: Arc<Proxy>,
    client: Client<HttpConnector, Body>,
}

use crate::http::SHUTDOWN_GRACE;

/// Serves the proxy on `listener` until the token is cancelled. Like nginx's
/// workers, one thread per core accepts on the shared socket and serves its
/// connections with a pool of connections to the replicas of its own, so that a
/// request never hops between threads. The connection cap is shared by them all.
pub async fn serve(
    proxy: Arc<Proxy>,
    listener: tokio::net::TcpListener,
    token: CancellationToken,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    proxy.set_listen(addr.to_string());
    let listener = listener.into_std()?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let slots = crate::http::slots(&proxy.settings.limits);
    let mut workers = Vec::with_capacity(threads);
    for n in 0..threads {
        let listener = listener.try_clone()?;
        let (proxy, token, slots) = (proxy.clone(), token.clone(), slots.clone());
        workers.push(
            std::thread::Builder::new()
                .name(format!("berth-proxy-{n}"))
                .spawn(move || -> std::io::Result<()> {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(worker(proxy, listener, slots, token))
                })?,
        );
    }
    tracing::info!("the proxy listens on http://{addr} ({threads} threads)");
    token.cancelled().await;
    tokio::task::spawn_blocking(move || {
        for w in workers {
            match w.join() {
                Ok(Err(e)) => tracing::error!(error = %e, "a proxy thread failed"),
                Err(_) => tracing::error!("a proxy thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    })
    .await
    .map_err(std::io::Error::other)
}

/// One proxy thread: accepts, serves, and at shutdown lets open connections finish.
async fn worker(
    proxy: Arc<Proxy>,
    listener: std::net::TcpListener,
    slots: Arc<tokio::sync::Semaphore>,
    token: CancellationToken,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(proxy.settings.connect_timeout));
    http.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build(http);
    let builder = Arc::new(proxy.settings.limits.http1());
    let f = Arc::new(Forwarder { proxy, client });
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = token.clone();
    let counter = open.clone();
    crate::http::accept_loop(listener, slots, token, move |stream, peer, permit| {
        let (f, stop, open, builder) = (f.clone(), stop.clone(), counter.clone(), builder.clone());
        open.fetch_add(1, Ordering::Relaxed);
        async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let f = f.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(handle(f, peer, req.map(Body::new)).await)
                }
            });
            crate::http::serve_until(&builder, stream, service, stop).await;
            open.fetch_sub(1, Ordering::Relaxed);
        }
    })
    .await;
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while open.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}

fn answer(status: StatusCode, text: String) -> Response<Body> {
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>{code}</title><p>{text}</p><p><small>Berth proxy</small></p>\n",
        code = status.as_u16(),
        text = html_escape(&text)
    );
    let mut r = Response::new(Body::from(page));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Headers that belong to one connection, not to the request: never passed on.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && *n == header::UPGRADE))
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in [
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
    ] {
        headers.remove(n);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Says who asked, for the replica: the client's address in `X-Forwarded-For`,
/// `http` in `X-Forwarded-Proto`, the Host it asked for in `X-Forwarded-Host`. What a
/// client wrote in these (or in `Forwarded`, `X-Real-IP`) is believed only from a
/// trusted proxy, whose `X-Forwarded-For` is extended; anyone else's is replaced,
/// so a client cannot pass itself off as another address.
fn forwarded_headers(headers: &mut HeaderMap, peer: SocketAddr, host: &str, trusted: bool) {
    let before = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let forwarded_for = if trusted && !before.is_empty() {
        format!("{before}, {}", peer.ip())
    } else {
        peer.ip().to_string()
    };
    if !trusted {
        headers.remove("forwarded");
        headers.remove("x-real-ip");
        headers.remove("x-forwarded-proto");
        headers.remove("x-forwarded-host");
    }
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", v);
    }
    if !headers.contains_key("x-forwarded-proto") {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    if !headers.contains_key("x-forwarded-host") {
        if let Ok(v) = HeaderValue::from_str(host) {
            headers.insert("x-forwarded-host", v);
        }
    }
}

/// Counts a request in flight to a replica until dropped.
struct InFlight(Arc<BackendStats>);

impl InFlight {
    fn new(stats: &Arc<BackendStats>) -> Self {
        stats.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(stats.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A replica's answer, streamed; the request stays in flight until it is done.
struct Tracked {
    inner: Incoming,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The route a request goes to, or the answer when none can take it: 404 for no
/// route, 503 for a service without a healthy replica.
fn routed<'t>(
    p: &Proxy,
    table: &'t table::RouteTable,
    host: &str,
    path: &'t str,
) -> Result<table::Matched<'t>, Box<Response<Body>>> {
    let Some(m) = table.lookup(host, path) else {
        p.counters.unknown_host.fetch_add(1, Ordering::Relaxed);
        return Err(Box::new(answer(
            StatusCode::NOT_FOUND,
            format!("No service is routed for {host}{path}."),
        )));
    };
    if m.route.backends.is_empty() {
        p.counters.no_backend.fetch_add(1, Ordering::Relaxed);
        let mut r = answer(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} has no healthy replica right now; try again in a moment.",
                m.route.service
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(Box::new(r));
    }
    Ok(m)
}

async fn handle(f: Arc<Forwarder>, peer: SocketAddr, mut req: Request<Body>) -> Response<Body> {
    let p = &f.proxy;
    let host_header = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let host = table::host_of(&host_header).to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    // 404 and 503 need no body: answered before one is read.
    if let Err(r) = routed(p, &p.table(), &host, &path) {
        return *r;
    }

    let upgrade = wants_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers, upgrade);
    let trusted = p.settings.trusted.iter().any(|c| c.contains(peer.ip()));
    forwarded_headers(&mut parts.headers, peer, &host_header, trusted);

    // A body that can be sent again goes to another replica when one cannot be
    // reached; a large one is streamed once.
    let size = http_body::Body::size_hint(&body).exact();
    let (mut once, replay): (Option<Body>, Option<Bytes>) = match size {
        Some(n) if n <= REPLAY_LIMIT => {
            match tokio::time::timeout(p.settings.upstream_timeout, body.collect()).await {
                Ok(Ok(c)) => (None, Some(c.to_bytes())),
                Ok(Err(_)) | Err(_) => {
                    return answer(
                        StatusCode::BAD_REQUEST,
                        "the request's body broke off or did not come".into(),
                    )
                }
            }
        }
        _ => (Some(body), None),
    };

    // The replica is chosen from the table as it is now, counted as choosing from
    // it until counted in flight: a drain waits for that count (see `Proxy::drain`).
    let (table, choosing) = p.choosing();
    let mut choosing = Some(choosing);
    let m = match routed(p, &table, &host, &path) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let route = m.route;
    let target = match query {
        Some(q) => format!("{}?{q}", m.path),
        None => m.path.into_owned(),
    };
    let mut tried: Vec<usize> = Vec::new();
    loop {
        let now = p.now_ms();
        let Some(i) = table::choose(
            route,
            |l: &Live| l.stats.in_flight.load(Ordering::Relaxed),
            |l: &Live| l.stats.ejected_until_ms.load(Ordering::Relaxed) > now,
            &tried,
        ) else {
            p.counters.bad_gateway.fetch_add(1, Ordering::Relaxed);
            return answer(
                StatusCode::BAD_GATEWAY,
                format!("no replica of {} could be reached", route.service),
            );
        };
        let live = &route.backends[i];
        let body = match (&replay, once.take()) {
            (Some(bytes), _) => Body::from(bytes.clone()),
            (None, Some(b)) => b,
            (None, None) => {
                p.counters.bad_gateway.fetch_add(1, Ordering::Relaxed);
                return answer(
                    StatusCode::BAD_GATEWAY,
                    format!("no replica of {} could be reached", route.service),
                );
            }
        };
        let mut head = parts.clone();
        head.uri = match format!("http://{}{target}", live.backend.authority).parse::<Uri>() {
            Ok(u) => u,
            Err(_) => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    "the request's path is not valid".into(),
                )
            }
        };
        let in_flight = InFlight::new(&live.stats);
        drop(choosing.take());
        let started = tokio::time::Instant::now();
        let sent = tokio::time::timeout(
            p.settings.upstream_timeout,
            f.client.request(Request::from_parts(head, body)),
        )
        .await;
        match sent {
            Err(_) => {
                live.stats.record(started.elapsed(), true);
                p.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                return answer(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "{} did not answer within {} s",
                        route.service,
                        p.settings.upstream_timeout.as_secs()
                    ),
                );
            }
            Ok(Err(e)) if e.is_connect() => {
                drop(in_flight);
                let failures = live.stats.connect_failures.fetch_add(1, Ordering::Relaxed) + 1;
                if failures >= EJECT_AFTER {
                    live.stats.ejected_until_ms.store(
                        p.now_ms() + p.settings.eject_for.as_millis() as i64,
                        Ordering::Relaxed,
                    );
                }
                tried.push(i);
                let again = replay.is_some() && tried.len() < ATTEMPTS.min(route.backends.len());
                if again {
                    continue;
                }
                live.stats.record(started.elapsed(), true);
                p.counters.bad_gateway.fetch_add(1, Ordering::Relaxed);
                return answer(
                    StatusCode::BAD_GATEWAY,
                    format!("no replica of {} could be reached", route.service),
                );
            }
            Ok(Err(e)) => {
                live.stats.record(started.elapsed(), true);
                p.counters.bad_gateway.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, service = %route.service, "proxy: the replica's answer broke off");
                return answer(
                    StatusCode::BAD_GATEWAY,
                    format!("{} broke off its answer", route.service),
                );
            }
            Ok(Ok(mut resp)) => {
                live.stats.connect_failures.store(0, Ordering::Relaxed);
                live.stats
                    .record(started.elapsed(), resp.status().is_server_error());
                if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                    if let Some(client) = client_upgrade {
                        let upstream = hyper::upgrade::on(&mut resp);
                        tokio::spawn(async move {
                            if let (Ok(c), Ok(u)) = (client.await, upstream.await) {
                                let _in_flight = in_flight;
                                let _ = tokio::io::copy_bidirectional(
                                    &mut TokioIo::new(c),
                                    &mut TokioIo::new(u),
                                )
                                .await;
                            }
                        });
                        return resp.map(|_| Body::empty());
                    }
                }
                strip_hop_by_hop(resp.headers_mut(), false);
                return resp.map(|inner| {
                    Body::new(Tracked {
                        inner,
                        _in_flight: in_flight,
                    })
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_are_replaced_unless_the_peer_is_trusted() {
        let spoofed = || {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_static("10.9.9.9"));
            h.insert("forwarded", HeaderValue::from_static("for=10.9.9.9"));
            h.insert("x-real-ip", HeaderValue::from_static("10.9.9.9"));
            h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
            h
        };
        let peer: SocketAddr = "127.0.0.5:40000".parse().unwrap();
        let mut h = spoofed();
        forwarded_headers(&mut h, peer, "shop.test", false);
        assert_eq!(h["x-forwarded-for"], "127.0.0.5");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.test");
        assert!(!h.contains_key("forwarded") && !h.contains_key("x-real-ip"));

        let mut h = spoofed();
        forwarded_headers(&mut h, peer, "shop.test", true);
        assert_eq!(h["x-forwarded-for"], "10.9.9.9, 127.0.0.5");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert!(h.contains_key("forwarded"));
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key(header::ACCEPT));

        let mut u = HeaderMap::new();
        u.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        u.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&u));
        strip_hop_by_hop(&mut u, true);
        assert_eq!(u[header::UPGRADE], "websocket");
        assert_eq!(u[header::CONNECTION], "upgrade");
    }
}
