//! The dashboard's files under `/pkg` (the WASM and the chunks split off it, JS,
//! CSS): served from a folder named after the build's content so that browsers
//! keep them for good, and sent precompressed by what the request accepts.
//!
//! At start the server hashes every file of the build together (`berth.js`,
//! `berth.wasm`, `berth.css`, and the lazily loaded pages: `__wasm_split.*.js`,
//! `split_*.wasm`, `chunk_*.wasm`); its pages load them as
//! `/pkg/<hash>/pkg/<file>`. The hash is a folder, not part of each name, because
//! the chunks' loader imports the main module by its plain relative name (a hashed
//! name would load that module twice, the second copy never started); it is the
//! part before `pkg` because Leptos builds a file's address as
//! `<root>/<pkg dir>/<file>` and reads the chunks' manifest from the pkg dir on
//! disk. A name in the folder is the file, kept a year and never asked about again;
//! a plain `/pkg/<file>` is revalidated each time; another build's folder is a 404.
//! Instances that serve the same build name its files alike. `scripts/compress`,
//! after a release build, writes `.br` and `.gz` beside each file; they are sent
//! when the request accepts them and they are as new as the file. A file replaced
//! while Berth runs is no longer sent under the hash of the one it replaced.
//! Nothing is compressed on the request path, and the build itself (cargo-leptos)
//! keeps building the WASM and the server side by side.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;

/// The files a page needs, by extension.
const EXTENSIONS: [&str; 3] = ["js", "wasm", "css"];
/// The build's output name (Leptos' `output-name`).
pub const OUTPUT: &str = "berth";
/// A year, and never revalidated: another build is another name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Plain names are asked about every time; an unchanged file costs a 304.
const REVALIDATE: &str = "no-cache";
/// What is not there is not kept either.
const NOT_KEPT: &str = "no-store";
/// Hex digits of the content hash in a name (64 bits).
const HASH_LEN: usize = 16;

/// What cargo-leptos writes beside a split build: the files each lazily loaded
/// part of the pages needs.
const MANIFEST: &str = "__wasm_split_manifest.json";
/// The chunks' loader, imported by the main module under this name.
const LOADER: &str = "__wasm_split.______________________.js";

/// The names of the build's files in `pkg`, sorted: the main three, the chunks'
/// loader and every chunk the manifest names (not whatever else a folder copied
/// over an older one holds, so that instances serving one build name it alike).
fn build_files(pkg: &Path) -> Vec<String> {
    let mut names: Vec<String> = EXTENSIONS
        .iter()
        .map(|ext| format!("{OUTPUT}.{ext}"))
        .collect();
    names.push(LOADER.to_string());
    names.extend(chunks(pkg).into_iter().map(|stem| format!("{stem}.wasm")));
    names.sort();
    names.dedup();
    names
}

/// The chunks the manifest names (`{"part": ["chunk_3", "split_part"]}`); none,
/// with a warning, when it cannot be read.
fn chunks(pkg: &Path) -> Vec<String> {
    let parsed = std::fs::read(pkg.join(MANIFEST))
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            serde_json::from_slice::<std::collections::HashMap<String, Vec<String>>>(&bytes)
                .map_err(|e| e.to_string())
        });
    match parsed {
        Ok(parts) => parts.into_values().flatten().collect(),
        Err(e) => {
            // A manifest that is there but not JSON also fails every page render
            // (Leptos reads it for the chunks' preload links): build again.
            tracing::warn!("{MANIFEST} cannot be read ({e}): the pages cannot load their chunks; build the site again");
            Vec::new()
        }
    }
}

/// The hash of one build's files (`names`, from [`build_files`]), `None` when its
/// main files are not all there.
fn content_hash(site_root: &Path, names: &[String]) -> Option<String> {
    let pkg = site_root.join("pkg");
    if !missing(site_root).is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    for name in names {
        // A file the manifest names but the folder lacks: no hash, plain names.
        let bytes = std::fs::read(pkg.join(name)).ok()?;
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(hex[..HASH_LEN].to_string())
}

/// Where the pages load a build's files from: the root before Leptos' `pkg`.
pub fn root(hash: &str) -> String {
    format!("/pkg/{hash}")
}

/// What a request under `/pkg` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    /// This build's file in its hashed folder: the plain file's path.
    Current(String),
    /// A hashed folder of another build.
    OtherBuild,
    /// Any other name, served as it is.
    Plain,
}

/// Reads `/pkg/<hash>/pkg/<name>` (and `berth_bg.wasm`, as Leptos names the WASM in
/// a build it did not make). Whether `name` is one of the build's files is for the
/// caller, who knows them.
pub fn asked(path: &str, hash: Option<&str>) -> Asked {
    let Some((folder, rest)) = path
        .strip_prefix("/pkg/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Asked::Plain;
    };
    let hashed = folder.len() == HASH_LEN && folder.bytes().all(|b| b.is_ascii_hexdigit());
    if !hashed {
        return Asked::Plain;
    }
    let name = match rest.strip_prefix("pkg/") {
        Some(name) if hash == Some(folder) && !name.contains('/') => name,
        _ => return Asked::OtherBuild,
    };
    if name == format!("{OUTPUT}_bg.wasm") {
        return Asked::Current(format!("/pkg/{OUTPUT}.wasm"));
    }
    Asked::Current(format!("/pkg/{name}"))
}

/// The build Berth serves, as it was when Berth started.
pub struct Build {
    /// The hash of its files: `None` when they are not all there, or changed while
    /// Berth read them (only plain names are served then).
    pub hash: Option<String>,
    names: Vec<String>,
    stamps: std::collections::HashMap<String, Stamp>,
}

impl Build {
    /// Stamps the files, hashes them, and stamps them again: a build landing in
    /// between would have its bytes kept for a year under the other build's hash.
    pub fn read(site_root: &Path) -> Self {
        let pkg = site_root.join("pkg");
        let names = build_files(&pkg);
        let stamps = stamps(&pkg, &names);
        let mut hash = content_hash(site_root, &names);
        if hash.is_some() && self::stamps(&pkg, &build_files(&pkg)) != stamps {
            tracing::warn!(
                "the dashboard's files changed while Berth read them: serving them by plain names; restart Berth"
            );
            hash = None;
        }
        Build {
            hash,
            names,
            stamps,
        }
    }
}

fn stamps(pkg: &Path, names: &[String]) -> std::collections::HashMap<String, Stamp> {
    names
        .iter()
        .filter_map(|name| {
            let meta = std::fs::metadata(pkg.join(name)).ok()?;
            Some((format!("/pkg/{name}"), stamp(&meta)))
        })
        .collect()
}

/// How this process serves `/pkg`.
#[derive(Debug)]
struct Files {
    pkg: PathBuf,
    hash: Option<String>,
    /// Each file's size and time when it was hashed, by its plain path: a file
    /// replaced since (a new build while Berth runs) is not the content its hashed
    /// name promises, and is not sent under it.
    stamps: std::collections::HashMap<String, Stamp>,
    /// Whether that was said already: once is enough, whoever asks.
    warned: std::sync::atomic::AtomicBool,
}

type Stamp = (u64, Option<std::time::SystemTime>);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    (meta.len(), meta.modified().ok())
}

/// What is on disk now under a name the pages load.
enum OnDisk {
    /// The file this build was hashed with.
    Same,
    /// Replaced or removed since Berth started.
    Changed,
    /// Not one of the build's files.
    Unknown,
}

impl Files {
    async fn on_disk(&self, plain: &str) -> OnDisk {
        let (Some(name), Some(stamped)) = (plain.strip_prefix("/pkg/"), self.stamps.get(plain))
        else {
            return OnDisk::Unknown;
        };
        match tokio::fs::metadata(self.pkg.join(name)).await {
            Ok(m) if stamp(&m) == *stamped => OnDisk::Same,
            _ => OnDisk::Changed,
        }
    }
}

/// `/pkg/*` from `site_root/pkg`, for `build` (its hashed folder, and plain names).
pub fn router<S: Clone + Send + Sync + 'static>(site_root: &Path, build: &Build) -> Router<S> {
    let pkg = site_root.join("pkg");
    let files = ServeDir::new(&pkg);
    let service = if precompressed_fresh(&pkg, &build.names) {
        files.precompressed_br().precompressed_gzip()
    } else {
        files
    };
    let files = Files {
        pkg,
        hash: build.hash.clone(),
        stamps: build.stamps.clone(),
        warned: std::sync::atomic::AtomicBool::new(false),
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
fn precompressed_fresh(pkg: &Path, names: &[String]) -> bool {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut any = false;
    for name in names {
        let file = pkg.join(name);
        for z in ["br", "gz"] {
            let packed = pkg.join(format!("{name}.{z}"));
            match (modified(file.clone()), modified(packed)) {
                (_, None) => {}
                (Some(f), Some(p)) if p >= f => any = true,
                _ => {
                    tracing::warn!(
                        "{name}.{z} is older than {name}: sending the files uncompressed; run scripts/compress"
                    );
                    return false;
                }
            }
        }
    }
    any
}

async fn resolve(State(f): State<Arc<Files>>, mut request: Request, next: Next) -> Response {
    let cache = match asked(request.uri().path(), f.hash.as_deref()) {
        Asked::Current(plain) => {
            match f.on_disk(&plain).await {
                OnDisk::Same => {}
                OnDisk::Changed => {
                    if !f.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::warn!(
                            "{plain} changed on disk since Berth started: restart it to serve the new build"
                        );
                    }
                    return not_found();
                }
                OnDisk::Unknown => return not_found(),
            }
            let Ok(uri) = plain.parse::<Uri>() else {
                return not_found();
            };
            *request.uri_mut() = uri;
            IMMUTABLE
        }
        Asked::OtherBuild => return not_found(),
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
    let cache = if found { cache } else { NOT_KEPT };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// A name that is not (or no longer) this build's file: nobody keeps the 404, so a
/// cache in between never pins a page to a missing file.
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, HeaderValue::from_static(NOT_KEPT))],
    )
        .into_response()
}

/// The files every page needs, missing from `site_root`: the main three and the
/// chunks' manifest (a build without `--split` has none, and its pages would not
/// come alive).
pub fn missing(site_root: &Path) -> Vec<PathBuf> {
    let pkg = site_root.join("pkg");
    EXTENSIONS
        .iter()
        .map(|ext| pkg.join(format!("{OUTPUT}.{ext}")))
        .chain([pkg.join(MANIFEST)])
        .filter(|p| !p.exists())
        .collect()
}

#[cfg(test)]
mod tests;
