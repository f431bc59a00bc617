//! Names, hashes and what is sent for which request.

use std::time::{Duration, SystemTime};

use super::*;
use crate::testing::TempDir;

const H: &str = "0123456789abcdef";

#[test]
fn a_name_is_this_builds_another_builds_or_plain() {
    let current = |ext: &str| Asked::Current(format!("/pkg/berth.{ext}"));
    for (path, want) in [
        ("/pkg/berth.0123456789abcdef.wasm", current("wasm")),
        ("/pkg/berth.0123456789abcdef_bg.wasm", current("wasm")),
        ("/pkg/berth.0123456789abcdef.js", current("js")),
        ("/pkg/berth.0123456789abcdef.css", current("css")),
        ("/pkg/berth.fedcba9876543210.wasm", Asked::OtherBuild),
        ("/pkg/berth.fedcba9876543210.css", Asked::OtherBuild),
        ("/pkg/berth.wasm", Asked::Plain),
        ("/pkg/berth.d.ts", Asked::Plain),
        ("/pkg/berth_bg.wasm.d.ts", Asked::Plain),
        ("/pkg/berth.0123456789abcdef_bg.js", Asked::Plain),
        ("/pkg/berth.0123456789abcdef.html", Asked::Plain),
        ("/pkg/other.0123456789abcdef.wasm", Asked::Plain),
        ("/pkg/berth.0123456789ABCDEFG.wasm", Asked::Plain),
        ("/berth.0123456789abcdef.wasm", Asked::Plain),
    ] {
        assert_eq!(asked(path, "berth", Some(H)), want, "{path}");
    }
    // Files that were missing at start have no hashed name.
    assert_eq!(
        asked("/pkg/berth.0123456789abcdef.wasm", "berth", None),
        Asked::OtherBuild
    );
}

/// A site with the three files, and `.br`/`.gz` beside the WASM (distinct bytes,
/// so the body says which was sent).
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
    ] {
        std::fs::write(pkg.join(name), body).unwrap();
    }
    dir
}

#[test]
fn the_hash_follows_the_content_and_needs_every_file() {
    let dir = site();
    let first = content_hash(&dir.0, "berth").unwrap();
    assert_eq!(first.len(), HASH_LEN);
    assert_eq!(
        content_hash(&dir.0, "berth").unwrap(),
        first,
        "the same files, the same name"
    );
    std::fs::write(dir.0.join("pkg/berth.css"), "css, changed").unwrap();
    assert_ne!(content_hash(&dir.0, "berth").unwrap(), first);
    std::fs::remove_file(dir.0.join("pkg/berth.js")).unwrap();
    assert_eq!(content_hash(&dir.0, "berth"), None);
    assert_eq!(missing(&dir.0, "berth"), [dir.0.join("pkg/berth.js")]);
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
    let hash = content_hash(&dir.0, "berth").unwrap();
    let router: Router = router(&dir.0, &format!("berth.{hash}"));
    let wasm = format!("/pkg/berth.{hash}.wasm");
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
    let css = get(&router, &format!("/pkg/berth.{hash}.css"), &[]).await;
    assert_eq!(header(&css, header::CONTENT_TYPE), "text/css");
    assert_eq!(text(css).await, "css");

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

    // Another build's name, and what is not there, are 404s nobody keeps.
    for path in [
        "/pkg/berth.fedcba9876543210.wasm",
        "/pkg/nothing.js",
        "/pkg/../Cargo.toml",
        "/pkg/%2e%2e/x",
    ] {
        let r = get(&router, path, &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&r, header::CACHE_CONTROL), "", "{path}");
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
    let hash = content_hash(&dir.0, "berth").unwrap();
    let router: Router = router(&dir.0, &format!("berth.{hash}"));
    let r = get(
        &router,
        &format!("/pkg/berth.{hash}.wasm"),
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(header(&r, header::CONTENT_ENCODING), "");
    assert_eq!(text(r).await, "raw");
}

#[tokio::test]
async fn a_file_replaced_after_start_is_not_sent_under_the_old_hash() {
    let dir = site();
    let hash = content_hash(&dir.0, "berth").unwrap();
    let router: Router = router(&dir.0, &format!("berth.{hash}"));
    let wasm = format!("/pkg/berth.{hash}.wasm");
    assert_eq!(get(&router, &wasm, &[]).await.status(), StatusCode::OK);
    // A new build lands while Berth runs.
    std::fs::write(dir.0.join("pkg/berth.wasm"), "a new build").unwrap();
    let r = get(&router, &wasm, &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, header::CACHE_CONTROL), "");
    // Its plain name serves what is there now.
    let r = get(&router, "/pkg/berth.wasm", &[]).await;
    assert_eq!(text(r).await, "a new build");
}
