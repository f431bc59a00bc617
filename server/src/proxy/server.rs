//! The proxy's listener and forwarding. Each request: find the route by Host and
//! path (404 when none), pick a replica (503 when the service has none healthy),
//! pass the request on over one of the thread's kept connections to it
//! (`upstream`) with its body streamed, hop-by-hop headers removed and
//! `X-Forwarded-*` added, and stream the answer back (504 when the replica takes
//! too long). A replica that cannot be reached is ejected for a while and the
//! request, not sent yet, goes to another one.
//! Upgrades (websockets) are passed through both ways.
//!
//! The same forwarding serves HTTPS (TLS by rustls, the certificate chosen by
//! SNI); plain HTTP also answers ACME's HTTP-01 challenges and redirects the
//! routes that ask for it to HTTPS.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use super::headers::{forwarded_headers, strip_hop_by_hop, wants_upgrade};
use super::stats::BackendStats;
use super::table::{self, Live};
use super::upstream::{self, SendFailed};
use super::Proxy;

/// Replicas tried for one request.
const ATTEMPTS: usize = 3;
/// Connect failures in a row that eject a replica.
const EJECT_AFTER: u64 = 1;

struct Forwarder {
    proxy: Arc<Proxy>,
    /// This thread's connections to the replicas.
    pool: Arc<upstream::Pool>,
    /// Its clients came over TLS.
    tls: bool,
}

/// Where ACME's HTTP-01 challenges are asked for.
const CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

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
    serve_on(proxy, listener, None, token).await
}

/// [`serve`] for HTTPS: each connection's TLS handshake (within the header
/// timeout) with `config`, then the same forwarding.
pub async fn serve_tls(
    proxy: Arc<Proxy>,
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    token: CancellationToken,
) -> std::io::Result<()> {
    serve_on(proxy, listener, Some(config), token).await
}

async fn serve_on(
    proxy: Arc<Proxy>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    token: CancellationToken,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    match tls {
        Some(_) => proxy.set_tls_listen(addr.to_string()),
        None => proxy.set_listen(addr.to_string()),
    }
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
        let tls = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        workers.push(
            std::thread::Builder::new()
                .name(format!("berth-proxy-{scheme}-{n}"))
                .spawn(move || -> std::io::Result<()> {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(worker(proxy, listener, tls, slots, token))
                })?,
        );
    }
    tracing::info!("the proxy listens on {scheme}://{addr} ({threads} threads)");
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
    tls: Option<tokio_rustls::TlsAcceptor>,
    slots: Arc<tokio::sync::Semaphore>,
    token: CancellationToken,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let pool = upstream::Pool::new(proxy.settings.connect_timeout);
    let builder = Arc::new(proxy.settings.limits.http1());
    let handshake_timeout = proxy.settings.limits.header_timeout;
    let f = Arc::new(Forwarder {
        proxy,
        pool,
        tls: tls.is_some(),
    });
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = token.clone();
    let counter = open.clone();
    crate::http::accept_loop(listener, slots, token, move |stream, peer, permit| {
        let (f, stop, open, builder) = (f.clone(), stop.clone(), counter.clone(), builder.clone());
        let tls = tls.clone();
        open.fetch_add(1, Ordering::Relaxed);
        async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let f = f.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(handle(f, peer, req.map(Body::new)).await)
                }
            });
            match tls {
                None => crate::http::serve_until(&builder, stream, service, stop).await,
                // A client that does not finish its handshake in time, or fails it
                // (no certificate for the name it asked), is let go.
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => crate::http::serve_until(&builder, tls, service, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "a TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "a TLS handshake took too long"),
                    }
                }
            }
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

/// The key authorization of an HTTP-01 challenge under way, as ACME asks for it.
fn challenge_answer(p: &Proxy, host: &str, path: &str) -> Option<Response<Body>> {
    let token = path.strip_prefix(CHALLENGE_PATH)?;
    let answer = p.certs()?.challenges.get(host, token)?;
    let mut r = Response::new(Body::from(answer));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Some(r)
}

/// Whether the HTTPS listener is on and has a certificate for the host.
fn can_serve_https(p: &Proxy, host: &str) -> bool {
    p.tls_listen().is_some() && p.certs().is_some_and(|c| c.serves(host))
}

/// A permanent redirect (308: the method and body stay) to the same URL over
/// HTTPS, on the port clients reach it at (`--proxy-https-public-port`, else the
/// HTTPS listener's).
fn to_https(p: &Proxy, host: &str, uri: &Uri) -> Response<Body> {
    let port = p
        .settings
        .https_public_port
        .or_else(|| {
            p.tls_listen()
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .map(|a| a.port())
        })
        .filter(|&port| port != 443)
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let location = format!("https://{host}{port}{path}");
    let mut r = answer(
        StatusCode::PERMANENT_REDIRECT,
        format!("This page is at {location}."),
    );
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => answer(
            StatusCode::BAD_REQUEST,
            "The request's host is not valid.".into(),
        ),
    }
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
    if !f.tls {
        if let Some(r) = challenge_answer(p, &host, &path) {
            return r;
        }
    }
    // The replica is chosen from the table as it is now, counted as choosing from
    // it until counted in flight: a drain waits for that count (see `Proxy::drain`).
    let (table, choosing) = p.choosing();
    let mut choosing = Some(choosing);
    let m = match routed(p, &table, &host, &path) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    // Challenges of the replicas' own ACME clients pass on unredirected; and only
    // a host the HTTPS listener can serve is sent there (until its first
    // certificate comes, or after one ends, plain HTTP is served as it is).
    if m.route.redirect && !f.tls && !path.starts_with(CHALLENGE_PATH) && can_serve_https(p, &host)
    {
        return to_https(p, &host, req.uri());
    }

    let upgrade = wants_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers, upgrade);
    let trusted = p.settings.trusted.iter().any(|c| c.contains(peer.ip()));
    forwarded_headers(&mut parts.headers, peer, &host_header, trusted, f.tls);

    let route = m.route;
    let target = match query {
        Some(q) => format!("{}?{q}", m.path),
        None => m.path.into_owned(),
    };
    parts.version = axum::http::Version::HTTP_11;
    parts.uri = match target.parse::<Uri>() {
        Ok(u) => u,
        Err(_) => {
            return answer(
                StatusCode::BAD_REQUEST,
                "the request's path is not valid".into(),
            )
        }
    };
    // A connection is had before the request is sent, so a replica that cannot
    // be reached leaves the request whole for another one.
    let mut req = Some(Request::from_parts(parts, body));
    let mut tried: Vec<usize> = Vec::new();
    // The replica whose kept connection turned out closed: asked again anew.
    let mut fresh: Option<usize> = None;
    let unreachable = |p: &Proxy| {
        p.counters.bad_gateway.fetch_add(1, Ordering::Relaxed);
        answer(
            StatusCode::BAD_GATEWAY,
            format!("no replica of {} could be reached", route.service),
        )
    };
    while let Some(request) = req.take() {
        let now = p.now_ms();
        let again = fresh.take();
        let Some(i) = again.or_else(|| {
            table::choose(
                route,
                |l: &Live| l.stats.in_flight.load(Ordering::Relaxed),
                |l: &Live| l.stats.ejected_until_ms.load(Ordering::Relaxed) > now,
                &tried,
            )
        }) else {
            return unreachable(p);
        };
        let live = &route.backends[i];
        let in_flight = InFlight::new(&live.stats);
        drop(choosing.take());
        let started = tokio::time::Instant::now();
        let deadline = started + p.settings.upstream_timeout;
        let sent = tokio::time::timeout_at(deadline, async {
            match f.pool.connection(&live.addr, again.is_some()).await {
                Ok(lease) => lease.send(request).await,
                Err(e) => Err(SendFailed::Unreached(e, request)),
            }
        })
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
            // A kept connection the replica had closed: the same replica, anew.
            Ok(Err(SendFailed::Unsent(back))) => {
                fresh = Some(i);
                req = Some(back);
            }
            Ok(Err(SendFailed::Unreached(e, back))) => {
                drop(in_flight);
                tracing::debug!(error = %e, service = %route.service, "proxy: a replica could not be reached");
                let failures = live.stats.connect_failures.fetch_add(1, Ordering::Relaxed) + 1;
                if failures >= EJECT_AFTER {
                    live.stats.ejected_until_ms.store(
                        p.now_ms() + p.settings.eject_for.as_millis() as i64,
                        Ordering::Relaxed,
                    );
                }
                tried.push(i);
                if tried.len() < ATTEMPTS.min(route.backends.len()) {
                    req = Some(back);
                    continue;
                }
                live.stats.record(started.elapsed(), true);
                return unreachable(p);
            }
            Ok(Err(SendFailed::ClientBody(e))) => {
                tracing::debug!(error = %e, %peer, "proxy: a client's body broke off");
                return answer(
                    StatusCode::BAD_REQUEST,
                    "the request's body broke off".into(),
                );
            }
            Ok(Err(SendFailed::Failed(e))) => {
                live.stats.record(started.elapsed(), true);
                p.counters.bad_gateway.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, service = %route.service, "proxy: the replica's answer broke off");
                return answer(
                    StatusCode::BAD_GATEWAY,
                    format!("{} broke off its answer", route.service),
                );
            }
            Ok(Ok((mut resp, lease))) => {
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
                // The request stays in flight until its answer is done.
                return resp.map(|inner| Body::new(lease.returning(inner, in_flight)));
            }
        }
    }
    unreachable(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

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
        forwarded_headers(&mut h, peer, "shop.test", false, false);
        assert_eq!(h["x-forwarded-for"], "127.0.0.5");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.test");
        assert!(!h.contains_key("forwarded") && !h.contains_key("x-real-ip"));

        let mut h = spoofed();
        forwarded_headers(&mut h, peer, "shop.test", true, false);
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
