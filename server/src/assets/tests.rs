//! Names, hashes and what is sent for which request.

use std::time::{Duration, SystemTime};

use super::*;
use crate::testing::TempDir;

const H: &str = "0123456789abcdef";

#[test]
fn a_name_is_this_builds_another_builds_or_plain() {
    let current = |name: &str| Asked::Current(format!("/pkg/{name}"));
    for (path, want) in [
        (
            "/pkg/0123456789abcdef/pkg/berth.wasm",
            current("berth.wasm"),
        ),
        (
            "/pkg/0123456789abcdef/pkg/berth_bg.wasm",
            current("berth.wasm"),
        ),
        ("/pkg/0123456789abcdef/pkg/berth.js", current("berth.js")),
        ("/pkg/0123456789abcdef/pkg/berth.css", current("berth.css")),
        (
            "/pkg/0123456789abcdef/pkg/split_x.wasm",
            current("split_x.wasm"),
        ),
        // Any name by its grammar: the router knows which are the build's.
        (
            "/pkg/0123456789abcdef/pkg/other.wasm",
            current("other.wasm"),
        ),
        ("/pkg/fedcba9876543210/pkg/berth.wasm", Asked::OtherBuild),
        ("/pkg/fedcba9876543210/pkg/berth.css", Asked::OtherBuild),
        ("/pkg/0123456789ABCDEF/pkg/berth.wasm", Asked::OtherBuild),
        ("/pkg/0123456789abcdef/berth.wasm", Asked::OtherBuild),
        ("/pkg/0123456789abcdef/pkg/x/berth.wasm", Asked::OtherBuild),
        ("/pkg/0123456789abcdef/pkg/../berth.wasm", Asked::OtherBuild),
        ("/pkg/berth.wasm", Asked::Plain),
        ("/pkg/berth.d.ts", Asked::Plain),
        ("/pkg/berth.0123456789abcdef.wasm", Asked::Plain),
        ("/pkg/0123456789ABCDEFG/pkg/berth.wasm", Asked::Plain),
        ("/0123456789abcdef/pkg/berth.wasm", Asked::Plain),
    ] {
        assert_eq!(asked(path, Some(H)), want, "{path}");
    }
    // Files that were missing at start have no hashed folder.
    assert_eq!(
        asked("/pkg/0123456789abcdef/pkg/berth.wasm", None),
        Asked::OtherBuild
    );
}

/// The hash Berth would serve the site under.
fn hash_of(site_root: &Path) -> Option<String> {
    Build::read(site_root).hash
}

/// A split build: the three files, the chunks' manifest and loader, two chunks (and
/// one left from an older build), and
/// `.br`/`.gz` beside the WASM (distinct bytes, so the body says which was sent).
fn site() -> TempDir {
    let dir = TempDir::new();
    let pkg = dir.0.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for (name, body) in [
        ("berth.js", "js"),
        ("berth.css", "css"),
        ("berth.wasm", "raw"),
        ("berth.wasm.br", "brotli"),
        ("berth.wasm.gz", "gzip"),
        (
            "__wasm_split_manifest.json",
            r#"{"page": ["chunk_0", "split_page"]}"#,
        ),
        ("__wasm_split.______________________.js", "loader"),
        ("chunk_0.wasm", "shared"),
        ("split_page.wasm", "a page"),
        // An older build's chunk, which the manifest does not name.
        ("chunk_9.wasm", "old"),
    ] {
        std::fs::write(pkg.join(name), body).unwrap();
    }
    dir
}

#[test]
fn the_hash_follows_the_content_and_needs_every_file() {
    let dir = site();
    let first = hash_of(&dir.0).unwrap();
    assert_eq!(first.len(), HASH_LEN);
    assert_eq!(
        hash_of(&dir.0).unwrap(),
        first,
        "the same files, the same name"
    );
    std::fs::write(dir.0.join("pkg/berth.css"), "css, changed").unwrap();
    let second = hash_of(&dir.0).unwrap();
    assert_ne!(second, first);
    std::fs::write(dir.0.join("pkg/chunk_0.wasm"), "shared, changed").unwrap();
    let third = hash_of(&dir.0).unwrap();
    assert_ne!(third, second, "a chunk is part of the build");
    // A file the manifest does not name is not (a chunk of an older build).
    std::fs::write(dir.0.join("pkg/chunk_9.wasm"), "older").unwrap();
    std::fs::write(dir.0.join("pkg/berth.d.ts"), "types").unwrap();
    assert_eq!(hash_of(&dir.0).unwrap(), third);
    // A chunk the manifest names but the folder lacks: no hash.
    std::fs::remove_file(dir.0.join("pkg/split_page.wasm")).unwrap();
    assert_eq!(hash_of(&dir.0), None);
    std::fs::remove_file(dir.0.join("pkg/berth.js")).unwrap();
    std::fs::remove_file(dir.0.join("pkg/__wasm_split_manifest.json")).unwrap();
    assert_eq!(
        missing(&dir.0),
        [
            dir.0.join("pkg/berth.js"),
            dir.0.join("pkg/__wasm_split_manifest.json")
        ]
    );
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
async fn this_builds_files_are_sent_as_accepted_and_kept_for_good() {
    let dir = site();
    let build = Build::read(&dir.0);
    let hash = build.hash.clone().unwrap();
    assert_eq!(Some(&hash), hash_of(&dir.0).as_ref());
    let router: Router = router(&dir.0, &build);
    let wasm = format!("/pkg/{hash}/pkg/berth.wasm");
    for (accept, encoding, body) in [
        ("gzip, deflate, br", "br", "brotli"),
        ("gzip", "gzip", "gzip"),
        ("identity", "", "raw"),
        ("", "", "raw"),
    ] {
        let r = get(&router, &wasm, &[("accept-encoding", accept)]).await;
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
    let css = get(&router, &format!("/pkg/{hash}/pkg/berth.css"), &[]).await;
    assert_eq!(header(&css, header::CONTENT_TYPE), "text/css");
    assert_eq!(text(css).await, "css");
    // A page's chunk and the chunks' loader, from the same folder, kept as long.
    for (name, body) in [
        ("split_page.wasm", "a page"),
        ("chunk_0.wasm", "shared"),
        ("__wasm_split.______________________.js", "loader"),
    ] {
        let r = get(&router, &format!("/pkg/{hash}/pkg/{name}"), &[]).await;
        assert_eq!(header(&r, header::CACHE_CONTROL), IMMUTABLE, "{name}");
        assert_eq!(text(r).await, body, "{name}");
    }

    // The plain name is revalidated; an unchanged file is a 304.
    let r = get(&router, "/pkg/berth.wasm", &[]).await;
    assert_eq!(header(&r, header::CACHE_CONTROL), REVALIDATE);
    let modified = header(&r, header::LAST_MODIFIED).to_string();
    let again = get(
        &router,
        "/pkg/berth.wasm",
        &[("if-modified-since", &modified)],
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Another build's name, and what is not there, are 404s nobody keeps; in this
    // build's folder, only the build's files.
    for path in [
        "/pkg/fedcba9876543210/pkg/berth.wasm",
        &format!("/pkg/{hash}/pkg/berth.d.ts"),
        &format!("/pkg/{hash}/pkg/berth.wasm.br"),
        &format!("/pkg/{hash}/pkg/split_other.wasm"),
        // On disk, but not named by the manifest (an older build's chunk).
        &format!("/pkg/{hash}/pkg/chunk_9.wasm"),
        &format!("/pkg/{hash}/pkg/split_%2e%2e%2fx.wasm"),
        "/pkg/nothing.js",
        "/pkg/../Cargo.toml",
        "/pkg/%2e%2e/x",
    ] {
        let r = get(&router, path, &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&r, header::CACHE_CONTROL), NOT_KEPT, "{path}");
    }
}

#[tokio::test]
async fn compressed_files_older_than_their_file_are_not_sent() {
    let dir = site();
    let old = SystemTime::now() - Duration::from_secs(3600);
    for z in ["br", "gz"] {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.0.join(format!("pkg/berth.wasm.{z}")))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    let build = Build::read(&dir.0);
    let hash = build.hash.clone().unwrap();
    assert_eq!(Some(&hash), hash_of(&dir.0).as_ref());
    let router: Router = router(&dir.0, &build);
    let r = get(
        &router,
        &format!("/pkg/{hash}/pkg/berth.wasm"),
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(header(&r, header::CONTENT_ENCODING), "");
    assert_eq!(text(r).await, "raw");
}

#[tokio::test]
async fn a_file_replaced_after_start_is_not_sent_under_the_old_hash() {
    let dir = site();
    let build = Build::read(&dir.0);
    let hash = build.hash.clone().unwrap();
    assert_eq!(Some(&hash), hash_of(&dir.0).as_ref());
    let router: Router = router(&dir.0, &build);
    let wasm = format!("/pkg/{hash}/pkg/berth.wasm");
    assert_eq!(get(&router, &wasm, &[]).await.status(), StatusCode::OK);
    // A new build lands while Berth runs.
    std::fs::write(dir.0.join("pkg/berth.wasm"), "a new build").unwrap();
    let r = get(&router, &wasm, &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, header::CACHE_CONTROL), NOT_KEPT);
    // Its plain name serves what is there now.
    let r = get(&router, "/pkg/berth.wasm", &[]).await;
    assert_eq!(text(r).await, "a new build");
}
