//! The dashboard's files under `/pkg` (WASM, JS, CSS): named after their content
//! so that browsers keep them for good, and sent precompressed by what the
//! request accepts.
//!
//! At start the server hashes `berth.js`, `berth.wasm` and `berth.css` together and
//! its pages name them `berth.<hash>.*` (Leptos' output name): that name is the
//! file, kept a year and never asked about again; a plain name is revalidated each
//! time; another build's hash is a 404. Instances that serve the same build name
//! its files alike. `scripts/compress`, after a release build, writes `.br` and
//! `.gz` beside each file; they are sent when the request accepts them and they
//! are as new as the file. A file replaced while Berth runs is no longer sent
//! under the hashed name of the one it replaced. Nothing is compressed on the request path, and the
//! build itself (cargo-leptos) keeps building the WASM and the server side by side.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;

/// The files a page loads, by extension.
const EXTENSIONS: [&str; 3] = ["js", "wasm", "css"];
/// A year, and never revalidated: another build is another name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Plain names are asked about every time; an unchanged file costs a 304.
const REVALIDATE: &str = "no-cache";
/// Hex digits of the content hash in a name (64 bits).
const HASH_LEN: usize = 16;

/// The hash of one build's files, `None` when they are not all there.
pub fn content_hash(site_root: &Path, output: &str) -> Option<String> {
    let pkg = site_root.join("pkg");
    let mut h = Sha256::new();
    for ext in EXTENSIONS {
        let bytes = std::fs::read(pkg.join(format!("{output}.{ext}"))).ok()?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(hex[..HASH_LEN].to_string())
}

/// What a request under `/pkg` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    /// This build's file by its hashed name: the plain file's path.
    Current(String),
    /// A hashed name of another build.
    OtherBuild,
    /// Any other name, served as it is.
    Plain,
}

/// Reads `/pkg/<output>.<hash>.<ext>` (and `<hash>_bg.wasm`, as Leptos names the
/// WASM in a build it did not make).
pub fn asked(path: &str, output: &str, hash: Option<&str>) -> Asked {
    let Some(rest) = path
        .strip_prefix("/pkg/")
        .and_then(|name| name.strip_prefix(output))
        .and_then(|name| name.strip_prefix('.'))
    else {
        return Asked::Plain;
    };
    let Some((stem, ext)) = rest.rsplit_once('.') else {
        return Asked::Plain;
    };
    let stem = if ext == "wasm" {
        stem.strip_suffix("_bg").unwrap_or(stem)
    } else {
        stem
    };
    let hashed = stem.len() == HASH_LEN && stem.bytes().all(|b| b.is_ascii_hexdigit());
    if !hashed || !EXTENSIONS.contains(&ext) {
        return Asked::Plain;
    }
    if hash == Some(stem) {
        Asked::Current(format!("/pkg/{output}.{ext}"))
    } else {
        Asked::OtherBuild
    }
}

/// How this process serves `/pkg`.
#[derive(Debug, Clone)]
struct Files {
    pkg: PathBuf,
    output: String,
    hash: Option<String>,
    /// Each file's size and time when it was hashed, by its plain path: a file
    /// replaced since (a new build while Berth runs) is not the content its hashed
    /// name promises, and is not sent under it.
    stamps: std::collections::HashMap<String, Stamp>,
}

type Stamp = (u64, Option<std::time::SystemTime>);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    (meta.len(), meta.modified().ok())
}

impl Files {
    async fn unchanged(&self, plain: &str) -> bool {
        let Some(name) = plain.strip_prefix("/pkg/") else {
            return false;
        };
        let now = tokio::fs::metadata(self.pkg.join(name)).await.ok();
        now.is_some_and(|m| self.stamps.get(plain) == Some(&stamp(&m)))
    }
}

/// `/pkg/*` from `site_root/pkg`, for the build whose pages are named
/// `output_name` (`berth.<hash>`, or `berth` when the files were missing at start).
pub fn router<S: Clone + Send + Sync + 'static>(site_root: &Path, output_name: &str) -> Router<S> {
    let pkg = site_root.join("pkg");
    let (output, hash) = match output_name.split_once('.') {
        Some((output, hash)) => (output.to_string(), Some(hash.to_string())),
        None => (output_name.to_string(), None),
    };
    let files = ServeDir::new(&pkg);
    let service = if precompressed_fresh(&pkg, &output) {
        files.precompressed_br().precompressed_gzip()
    } else {
        files
    };
    let stamps = EXTENSIONS
        .iter()
        .filter_map(|ext| {
            let meta = std::fs::metadata(pkg.join(format!("{output}.{ext}"))).ok()?;
            Some((format!("/pkg/{output}.{ext}"), stamp(&meta)))
        })
        .collect();
    let files = Files {
        pkg,
        output,
        hash,
        stamps,
    };
    Router::new()
        .nest_service("/pkg", service)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(files),
            resolve,
        ))
}

/// Whether every `.br` and `.gz` beside the build's files is at least as new as
/// its file (an older one is another build's: sending it would break the page).
fn precompressed_fresh(pkg: &Path, output: &str) -> bool {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut any = false;
    for ext in EXTENSIONS {
        let file = pkg.join(format!("{output}.{ext}"));
        for z in ["br", "gz"] {
            let packed = pkg.join(format!("{output}.{ext}.{z}"));
            match (modified(file.clone()), modified(packed)) {
                (_, None) => {}
                (Some(f), Some(p)) if p >= f => any = true,
                _ => {
                    tracing::warn!(
                        "{output}.{ext}.{z} is older than {output}.{ext}: sending the files uncompressed; run scripts/compress"
                    );
                    return false;
                }
            }
        }
    }
    any
}

async fn resolve(State(f): State<Arc<Files>>, mut request: Request, next: Next) -> Response {
    let cache = match asked(request.uri().path(), &f.output, f.hash.as_deref()) {
        Asked::Current(plain) => {
            if !f.unchanged(&plain).await {
                tracing::warn!(
                    "{plain} changed on disk since Berth started: restart it to serve the new build"
                );
                return StatusCode::NOT_FOUND.into_response();
            }
            if let Ok(uri) = plain.parse::<Uri>() {
                *request.uri_mut() = uri;
            }
            IMMUTABLE
        }
        Asked::OtherBuild => return StatusCode::NOT_FOUND.into_response(),
        Asked::Plain => REVALIDATE,
    };
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

/// The files a page loads, missing from `site_root`.
pub fn missing(site_root: &Path, output: &str) -> Vec<PathBuf> {
    EXTENSIONS
        .iter()
        .map(|ext| site_root.join("pkg").join(format!("{output}.{ext}")))
        .filter(|p| !p.exists())
        .collect()
}

#[cfg(test)]
mod tests;
