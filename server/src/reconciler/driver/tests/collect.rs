//! The loop deleting a deleted service's volumes: once free, across a restart and
//! a host that was down.

use super::*;

#[tokio::test]
async fn a_deleted_services_volumes_are_deleted_once_free_even_across_a_restart() {
    let (t, fake, mut d) = world(2).await;
    let with_data = spec(serde_json::json!({
        "image": "demo:v1",
        "volumes": [{"name": "data", "path": "/data"}]
    }));
    let id = add_service(&t, "db", 2, with_data).await;
    settle(&mut d, &t, &fake).await;
    let volumes = |fake: &FakeRuntime| {
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("remove volume"))
            .count()
    };
    assert_eq!(fake.containers().len(), 2);
    // Host 2 stops answering; the service is deleted with its volumes.
    fake.fail_host(2, true);
    t.set_host_answering(2, false);
    let now = t.state.clock.now_ms();
    t.state.store.delete_service(id, now, true).await.unwrap();
    settle(&mut d, &t, &fake).await;
    // Host 1's replica and volume are gone; host 2's replica still holds its own.
    assert_eq!(volumes(&fake), 1, "{:?}", fake.calls());
    assert_eq!(t.state.store.volumes_to_delete().await.unwrap().len(), 1);
    // Berth restarts: nothing in memory, the request is still in the store.
    let mut fresh = Driver::default();
    settle(&mut fresh, &t, &fake).await;
    assert_eq!(t.state.store.volumes_to_delete().await.unwrap().len(), 1);
    // Host 2 answers again: its leftover replica goes, then its volume.
    fake.fail_host(2, false);
    t.set_host_answering(2, true);
    t.advance(30_000);
    settle(&mut fresh, &t, &fake).await;
    t.advance(1_000);
    settle(&mut fresh, &t, &fake).await;
    assert!(fake.containers().is_empty(), "{:?}", fake.containers());
    assert_eq!(volumes(&fake), 2, "{:?}", fake.calls());
    assert!(t.state.store.volumes_to_delete().await.unwrap().is_empty());
    let events = messages(&t, "db").await;
    assert_eq!(
        events
            .iter()
            .filter(|m| m.ends_with("deleted with its service"))
            .count(),
        2,
        "{events:?}"
    );
}
