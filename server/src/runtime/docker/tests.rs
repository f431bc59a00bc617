//! Tests of `docker`.

use super::*;

#[test]
fn endpoints_round_trip() {
    for s in [
        "unix:///var/run/docker.sock",
        "unix:///run/berth-hosts/h1/docker.sock",
        "tcp://127.0.0.1:2375",
        "tcp://docker.example.com:2376",
    ] {
        assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
    }
}

#[test]
fn default_names() {
    for (s, name) in [
        ("unix:///var/run/docker.sock", "local"),
        ("unix:///run/berth-hosts/h2/docker.sock", "h2"),
        ("tcp://10.1.2.3:2375", "10.1.2.3"),
    ] {
        assert_eq!(s.parse::<Endpoint>().unwrap().default_name(), name);
    }
}

#[tokio::test]
async fn a_missing_socket_is_unreachable_in_words() {
    let engine = DockerEngine::new(
        "unix:///nonexistent/docker.sock".parse().unwrap(),
        Duration::from_secs(2),
    );
    let err = engine.facts().await.unwrap_err().to_string();
    assert!(
        err.starts_with("cannot reach Docker at unix:///nonexistent/docker.sock: "),
        "{err}"
    );
    assert!(err.contains("not found"), "{err}");
}
