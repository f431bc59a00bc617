//! A service whose stored spec does not read: the loop goes on for the others,
//! and that one keeps running as it was last read, or, never read since Berth
//! started, is left alone; an event says why, once.

use super::*;

fn count(fake: &FakeRuntime, service_id: i64) -> usize {
    fake.containers()
        .iter()
        .filter(|c| c.service_id == service_id)
        .count()
}

#[tokio::test]
async fn a_service_that_does_not_read_keeps_running_and_the_others_go_on() {
    let (t, fake, mut d) = world(3).await;
    let web = add_service(&t, "web", 2, demo()).await;
    let shop = add_service(&t, "shop", 2, demo()).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!((count(&fake, web), count(&fake, shop)), (2, 2));

    t.state.store.spoil_spec(shop).await.unwrap();
    let now = t.state.clock.now_ms();
    t.state.store.set_replicas(web, 3, now).await.unwrap();
    settle(&mut d, &t, &fake).await;
    // The others go on; the unreadable one stays as last read.
    assert_eq!((count(&fake, web), count(&fake, shop)), (3, 2));
    let told = messages(&t, "shop").await;
    let cannot: Vec<&String> = told
        .iter()
        .filter(|m| m.starts_with("its stored spec cannot be read ("))
        .collect();
    assert_eq!(cannot.len(), 1, "told once: {told:?}");
    assert!(cannot[0].contains("stay as last read"), "{}", cannot[0]);

    // Berth restarted: the service was never read by this loop. Its replicas look
    // like a deleted service's, and are left alone all the same.
    let mut fresh = Driver::default();
    let calls = fake.calls().len();
    for _ in 0..3 {
        fresh.pass(&t.state).await;
        fresh.finish().await;
    }
    assert_eq!(fake.calls()[calls..], [] as [String; 0], "nothing removed");
    assert_eq!((count(&fake, web), count(&fake, shop)), (3, 2));
    let told = messages(&t, "shop").await;
    assert!(
        told.iter()
            .any(|m| m.contains("its replicas are left as they run")),
        "{told:?}"
    );
}
