//! Real Docker: on each of the test hosts, pull the demo image from the local
//! registry, run it with its port published on the host's own loopback address,
//! reach it there, and remove it. Needs `scripts/hosts up 3` (make test runs it).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use common::{demo_image, http_get_ok, test_hosts, TestHost};
use server::runtime::docker::{DockerEngine, RunSpec};

async fn engine_of(host: &TestHost) -> DockerEngine {
    let engine = DockerEngine::new(
        host.endpoint.parse().expect("a valid test host endpoint"),
        Duration::from_secs(60),
    );
    if let Err(e) = engine.facts().await {
        panic!(
            "test host {} does not answer ({e}); start the test hosts with `scripts/hosts up 3` (make test does it)",
            host.name
        );
    }
    engine
}

/// Removes the image so that the test proves a pull from the registry. Another test
/// may be using it; then it stays, and the pull is a no-op.
async fn forget_image(host: &TestHost, image: &str) {
    let docker = bollard::Docker::connect_with_unix(
        host.endpoint.trim_start_matches("unix://"),
        30,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap()
    .negotiate_version()
    .await
    .unwrap();
    let _ = docker
        .remove_image(
            image,
            Some(RemoveImageOptionsBuilder::default().build()),
            None,
        )
        .await;
}

async fn run_demo_on(host: TestHost) -> Result<(), String> {
    let engine = engine_of(&host).await;
    let image = demo_image("v1");
    forget_image(&host, &image).await;
    engine
        .ensure_image(&image)
        .await
        .map_err(|e| format!("{}: pull: {e}", host.name))?;

    let spec = RunSpec {
        name: format!("berth-it-skeleton-{}-{}", host.name, std::process::id()),
        image,
        labels: HashMap::from([("berth.test".to_string(), "skeleton".to_string())]),
        publish: Some(8080),
        publish_ip: Some(host.address.clone()),
    };
    let started = engine
        .run(&spec)
        .await
        .map_err(|e| format!("{}: run: {e}", host.name))?;

    // Check, then always clean up, then report.
    let checked = async {
        let (ip, port) = started
            .published
            .clone()
            .ok_or_else(|| format!("{}: no published port", host.name))?;
        if ip != host.address {
            return Err(format!(
                "{}: published on {ip}, not {}",
                host.name, host.address
            ));
        }
        let health = http_get_ok(&ip, port, "/healthz", Duration::from_secs(10)).await;
        let page = http_get_ok(&ip, port, "/", Duration::from_secs(2)).await;
        if health.trim() != "ok v1" || !page.contains("berth-demo v1") {
            return Err(format!(
                "{}: unexpected answers {health:?} / {page:?}",
                host.name
            ));
        }
        Ok(())
    }
    .await;
    let removed = engine.remove(&started.id).await;
    checked?;
    removed.map_err(|e| format!("{}: remove: {e}", host.name))?;
    // Removing again is not an error: the container is already gone.
    engine
        .remove(&started.id)
        .await
        .map_err(|e| format!("{}: second remove: {e}", host.name))
}

#[tokio::test]
async fn the_demo_image_runs_and_answers_on_every_test_host() {
    let hosts = test_hosts();
    assert!(
        hosts.len() >= 3,
        "the skeleton test needs three test hosts, got {hosts:?}"
    );
    let results = futures::future::join_all(hosts.into_iter().map(run_demo_on)).await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_missing_image_fails_with_the_registry_s_words() {
    let host = test_hosts().remove(0);
    let engine = engine_of(&host).await;
    let err = engine
        .ensure_image(&demo_image("no-such-tag"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.1:5000/berth-demo"), "{err}");
    assert!(
        err.contains("not found") || err.contains("unknown"),
        "{err}"
    );
}
