//! Tests of `web`.

use super::*;

#[test]
fn pages_and_not_pages() {
    for p in ["/", "/hosts", "/login", "/setup", "/no/such"] {
        assert!(is_page(p), "{p}");
    }
    for p in [
        "/api/v1/me",
        "/api/get_me123",
        "/pkg/berth.js",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(!is_page(p), "{p}");
    }
}

#[test]
fn next_is_encoded() {
    assert_eq!(percent_encode("/hosts?x=1&y=2"), "/hosts%3Fx%3D1%26y%3D2");
}
