//! The dashboard's files under `/pkg` (WASM, JS, CSS): served precompressed by what
//! the request accepts, and kept by browsers for good when their names carry the
//! build's content hash, revalidated when they do not.
//!
//! `cargo leptos build` with `hash-files` names the files `berth.<hash>.wasm` and
//! writes the hashes to `hash.txt` beside the binary, where Leptos reads them to
//! name the page's scripts; `--precompress` (release builds) writes `.br` and `.gz`
//! beside each file. Nothing is compressed on the request path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::services::ServeDir;

/// Where Leptos looks for the hashes: beside the running binary.
pub const HASH_FILE: &str = "hash.txt";

/// A year, and never revalidated: a new build is a new name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unhashed names (a build without `hash-files`) are asked about every time; an
/// unchanged file costs a 304.
const REVALIDATE: &str = "no-cache";

/// The file names of one build's hashed files (`berth.<hash>.js`, `.wasm`, `.css`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashes {
    names: Vec<String>,
}

impl Hashes {
    /// Reads `hash.txt` as cargo-leptos writes it: `js: <hash>` per line, for
    /// `js`, `wasm` and `css` (other lines, such as a split manifest, are kept as
    /// named by their key's extension where it is one).
    pub fn parse(output_name: &str, text: &str) -> Self {
        let names = text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(ext, _)| matches!(ext.trim(), "js" | "wasm" | "css"))
            .map(|(ext, hash)| format!("{output_name}.{}.{}", hash.trim(), ext.trim()))
            .collect();
        Hashes { names }
    }

    /// The hashes beside the running binary, if that build hashed its files.
    pub fn beside_exe(output_name: &str) -> Option<Self> {
        let path = std::env::current_exe().ok()?.parent()?.join(HASH_FILE);
        let text = std::fs::read_to_string(path).ok()?;
        let hashes = Hashes::parse(output_name, &text);
        (!hashes.names.is_empty()).then_some(hashes)
    }

    /// The file names the pages will ask for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

/// How long a browser may keep the file at `path`.
pub fn cache_control(path: &str, hashes: &Hashes) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if hashes.contains(name) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// `/pkg/*` from `pkg_dir`: `.br` or `.gz` beside a file is sent instead of it when
/// the request accepts that encoding.
pub fn router<S: Clone + Send + Sync + 'static>(pkg_dir: PathBuf, hashes: Hashes) -> Router<S> {
    let files = ServeDir::new(pkg_dir)
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .nest_service("/pkg", files)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(hashes),
            caching,
        ))
}

async fn caching(State(hashes): State<Arc<Hashes>>, request: Request, next: Next) -> Response {
    let cache = cache_control(request.uri().path(), &hashes);
    let mut response = next.run(request).await;
    let found = matches!(
        response.status(),
        StatusCode::OK | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
    );
    let h = response.headers_mut();
    // A cache in between keeps one copy per encoding.
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if found {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

/// The files a page of this build loads, missing from `site_root`: the site was
/// built by another build, or not at all.
pub fn missing(site_root: &Path, output_name: &str, hashes: Option<&Hashes>) -> Vec<PathBuf> {
    let pkg = site_root.join("pkg");
    let wanted: Vec<String> = match hashes {
        Some(h) => h.names().to_vec(),
        None => ["js", "wasm", "css"]
            .iter()
            .map(|ext| format!("{output_name}.{ext}"))
            .collect(),
    };
    wanted
        .into_iter()
        .map(|name| pkg.join(name))
        .filter(|p| !p.exists())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_TXT: &str = "js: AbC\nwasm: dEf\ncss: x_Y-1\nmanifest: zz\n";

    #[test]
    fn reads_the_hash_file_as_cargo_leptos_writes_it() {
        let h = Hashes::parse("berth", HASH_TXT);
        assert_eq!(
            h.names(),
            ["berth.AbC.js", "berth.dEf.wasm", "berth.x_Y-1.css"]
        );
        assert!(Hashes::parse("berth", "").names().is_empty());
        assert!(Hashes::parse("berth", "garbage\n").names().is_empty());
    }

    #[test]
    fn only_hashed_names_are_kept_for_good() {
        let h = Hashes::parse("berth", HASH_TXT);
        for (path, want) in [
            ("/pkg/berth.dEf.wasm", IMMUTABLE),
            ("/pkg/berth.AbC.js", IMMUTABLE),
            ("/pkg/berth.x_Y-1.css", IMMUTABLE),
            ("/pkg/berth.wasm", REVALIDATE),
            ("/pkg/berth.OLD.wasm", REVALIDATE),
            ("/pkg/other.dEf.wasm", REVALIDATE),
        ] {
            assert_eq!(cache_control(path, &h), want, "{path}");
        }
        assert_eq!(
            cache_control("/pkg/berth.wasm", &Hashes::default()),
            REVALIDATE
        );
    }

    #[test]
    fn names_what_a_site_lacks() {
        let dir = crate::testing::TempDir::new();
        let pkg = dir.0.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("berth.js"), "").unwrap();
        let missing = missing(&dir.0, "berth", None);
        assert_eq!(missing, [pkg.join("berth.wasm"), pkg.join("berth.css")]);
        let h = Hashes::parse("berth", HASH_TXT);
        assert_eq!(missing_names(&dir.0, &h), 3);
    }

    /// A site with one hashed WASM file, its `.br` and `.gz` made "at build time"
    /// (distinct bytes, so the body says which was sent), and one unhashed file.
    fn site() -> (crate::testing::TempDir, Router) {
        let dir = crate::testing::TempDir::new();
        let pkg = dir.0.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("berth.dEf.wasm"), "raw").unwrap();
        std::fs::write(pkg.join("berth.dEf.wasm.br"), "brotli").unwrap();
        std::fs::write(pkg.join("berth.dEf.wasm.gz"), "gzip").unwrap();
        std::fs::write(pkg.join("berth.wasm"), "plain").unwrap();
        let router = super::router(pkg, Hashes::parse("berth", HASH_TXT));
        (dir, router)
    }

    async fn get(router: &Router, path: &str, headers: &[(&str, &str)]) -> Response {
        use tower::ServiceExt;
        let mut request = axum::http::Request::get(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let body = axum::body::Body::empty();
        router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap()
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn header(r: &Response, name: header::HeaderName) -> &str {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn sends_what_the_request_accepts() {
        let (_dir, router) = site();
        for (accept, encoding, body) in [
            ("gzip, deflate, br", "br", "brotli"),
            ("gzip", "gzip", "gzip"),
            ("identity", "", "raw"),
            ("", "", "raw"),
        ] {
            let r = get(
                &router,
                "/pkg/berth.dEf.wasm",
                &[("accept-encoding", accept)],
            )
            .await;
            assert_eq!(r.status(), StatusCode::OK, "{accept}");
            assert_eq!(header(&r, header::CONTENT_ENCODING), encoding, "{accept}");
            assert_eq!(
                header(&r, header::CONTENT_TYPE),
                "application/wasm",
                "{accept}"
            );
            assert_eq!(header(&r, header::CACHE_CONTROL), IMMUTABLE, "{accept}");
            assert_eq!(header(&r, header::VARY), "accept-encoding", "{accept}");
            assert_eq!(text(r).await, body, "{accept}");
        }
    }

    #[tokio::test]
    async fn unhashed_files_are_revalidated_and_missing_ones_are_not_cached() {
        let (_dir, router) = site();
        let r = get(&router, "/pkg/berth.wasm", &[("accept-encoding", "br")]).await;
        assert_eq!(header(&r, header::CACHE_CONTROL), REVALIDATE);
        assert_eq!(header(&r, header::CONTENT_ENCODING), "");
        let modified = header(&r, header::LAST_MODIFIED).to_string();
        assert!(!modified.is_empty());
        let again = get(
            &router,
            "/pkg/berth.wasm",
            &[("if-modified-since", &modified)],
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&again, header::CACHE_CONTROL), REVALIDATE);

        for path in [
            "/pkg/berth.nope.wasm",
            "/pkg/../Cargo.toml",
            "/pkg/%2e%2e/x",
        ] {
            let r = get(&router, path, &[]).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(header(&r, header::CACHE_CONTROL), "", "{path}");
        }
    }

    fn missing_names(root: &Path, h: &Hashes) -> usize {
        super::missing(root, "berth", Some(h)).len()
    }
}
