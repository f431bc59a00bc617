//! The client commands' small HTTP client for Berth's JSON API: a bearer token,
//! JSON in and out, the API's `{"error":{"code","message"}}` turned into one line,
//! and `https://` through the rustls that bollard already brings (the system's
//! root certificates).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use domain::wire::ErrorBody;

/// How long one request may take, answer included (a followed log is the
/// exception: it lasts as long as the replica writes).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request did not get the answer it wanted.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "'{0}' is not a Berth URL: use e.g. http://127.0.0.1:3000 or https://berth.example.com"
    )]
    BadUrl(String),
    #[error("https:// needs the system's root certificates and none were found ({0}); install ca-certificates or set SSL_CERT_FILE")]
    NoRoots(String),
    #[error("TLS cannot be set up: {0}")]
    Tls(String),
    #[error("cannot reach Berth at {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("Berth at {url} did not answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout { url: String },
    /// The API's own error: its message is the line to show.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{url} answered {status} without the API's error body (is it a Berth?): {body}")]
    Unexpected {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} answered something this berth does not understand: {cause}")]
    Decode { url: String, cause: String },
    #[error("cannot write what Berth sent: {0}")]
    Output(std::io::Error),
}

impl HttpError {
    /// The HTTP status of an error the API answered, if it was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Api { status, .. } | HttpError::Unexpected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One Berth's API, with a token.
pub struct Api {
    base: String,
    token: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Api {
    /// A client for the Berth at `url` (`http://` or `https://`, any path prefix).
    pub fn new(url: &str, token: &str) -> Result<Api, HttpError> {
        let base = url.trim().trim_end_matches('/').to_string();
        let uri: Uri = base.parse().map_err(|_| HttpError::BadUrl(url.into()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(HttpError::BadUrl(url.into())),
        };
        if uri.authority().is_none() || uri.query().is_some() {
            return Err(HttpError::BadUrl(url.into()));
        }
        let client = Client::builder(TokioExecutor::new()).build(connector(https)?);
        Ok(Api {
            base,
            token: token.trim().to_string(),
            client,
        })
    }

    /// The URL it talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`, its JSON answer.
    pub async fn get(&self, path: &str) -> Result<serde_json::Value, HttpError> {
        self.json(Method::GET, path, None::<&()>).await
    }

    /// `POST path` with a JSON body, its JSON answer (`null` when empty).
    pub async fn post<B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<serde_json::Value, HttpError> {
        self.json(Method::POST, path, Some(body)).await
    }

    async fn json<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<serde_json::Value, HttpError> {
        let url = self.url(path);
        let body = body.map(|b| serde_json::to_vec(b).expect("a request body serialises"));
        let bytes = self.whole(method, path, body).await?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| HttpError::Decode {
            url,
            cause: e.to_string(),
        })
    }

    /// `GET path`, its answer as text (a stack file, a log).
    pub async fn text(&self, path: &str) -> Result<String, HttpError> {
        let bytes = self.whole(Method::GET, path, None).await?;
        String::from_utf8(bytes.to_vec()).map_err(|_| HttpError::Decode {
            url: self.url(path),
            cause: "the text is not UTF-8".into(),
        })
    }

    /// `GET path`, its body written to `out` as it comes, until Berth ends it.
    pub async fn stream(&self, path: &str, out: &mut impl Write) -> Result<(), HttpError> {
        let response = self.send(Method::GET, path, None).await?;
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.broken(path, &e))?;
            if let Some(data) = frame.data_ref() {
                out.write_all(data)
                    .and_then(|()| out.flush())
                    .map_err(HttpError::Output)?;
            }
        }
        Ok(())
    }

    /// A request whose answer is read whole, within the timeout.
    async fn whole(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, HttpError> {
        let read = async {
            let response = self.send(method, path, body).await?;
            response
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .map_err(|e| self.broken(path, &e))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, read)
            .await
            .map_err(|_| HttpError::Timeout {
                url: self.url(path),
            })?
    }

    /// Sends a request; an answer that is not a success becomes its error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, HttpError> {
        let url = self.url(path);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("berth-cli/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| HttpError::BadUrl(url.clone()))?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| HttpError::Timeout { url: url.clone() })?
            .map_err(|e| HttpError::Connect {
                url: self.base.clone(),
                cause: causes(&e),
            })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.failure(&url, response).await)
    }

    /// The error an unsuccessful answer stands for.
    async fn failure(&self, url: &str, response: Response<Incoming>) -> HttpError {
        let status = response.status();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        api_error(url, status, &body)
    }

    fn broken(&self, path: &str, e: &hyper::Error) -> HttpError {
        HttpError::Connect {
            url: self.url(path),
            cause: format!("the answer broke off: {}", causes(e)),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// An unsuccessful answer as an error: the API's message when it sent its error
/// body, else the status and the start of what came.
pub fn api_error(url: &str, status: StatusCode, body: &[u8]) -> HttpError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => HttpError::Api {
            status: status.as_u16(),
            code: e.error.code,
            message: e.error.message,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            HttpError::Unexpected {
                url: url.to_string(),
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            }
        }
    }
}

/// The connector: plain HTTP, and HTTPS checked against the system's roots (only
/// read when the URL is https://).
fn connector(https: bool) -> Result<HttpsConnector<HttpConnector>, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    if https {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no certificate in the system's store".into());
            return Err(HttpError::NoRoots(why));
        }
    }
    // Named rather than taken from the process default: the ring provider is the
    // one compiled in (through bollard's `ssl`).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build())
}

/// An error and its causes in one line: hyper's own says only "client error
/// (Connect)"; the cause below says "Connection refused".
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/",
            "https://berth.example.com",
            "http://h/prefix/",
        ] {
            let api = Api::new(ok, "t").unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(!api.base().ends_with('/'), "{ok}");
        }
        for bad in [
            "127.0.0.1:3000",
            "ftp://h",
            "http://",
            "nonsense",
            "http://h?x=1",
        ] {
            assert!(
                matches!(Api::new(bad, "t"), Err(HttpError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn api_errors_are_their_message() {
        let body = br#"{"error":{"code":"conflict","message":"web changed since the plan"}}"#;
        let e = api_error("http://h/x", StatusCode::CONFLICT, body);
        assert_eq!(e.to_string(), "web changed since the plan");
        assert_eq!(e.status(), Some(409));
        let e = api_error(
            "http://h/x",
            StatusCode::BAD_GATEWAY,
            b"<html>\n bad\n</html>",
        );
        assert_eq!(
            e.to_string(),
            "http://h/x answered 502 without the API's error body (is it a Berth?): <html> bad </html>"
        );
    }

    #[tokio::test]
    async fn unreachable_is_one_line_with_the_cause() {
        // A port nothing listens on: bind one, note it, let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let api = Api::new(&format!("http://127.0.0.1:{port}"), "t").unwrap();
        let e = api.get("/api/v1/me").await.unwrap_err().to_string();
        assert!(
            e.starts_with("cannot reach Berth at http://127.0.0.1:"),
            "{e}"
        );
        assert!(e.to_lowercase().contains("refused"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
