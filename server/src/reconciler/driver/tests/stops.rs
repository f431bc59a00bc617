//! Removals whose slot stays served: out of the proxy in the service's task,
//! drained and stopped by a stop task after it, never removed twice meanwhile.

use super::*;

/// One pass, and its service task's end: the stops it left for after it.
async fn handed_over(d: &mut Driver, t: &TestState) -> Stops {
    d.pass(&t.state).await;
    let (_, stops) = d.tasks.join_next_with_id().await.unwrap().unwrap();
    stops.expect("stops left for after the task")
}

/// Containers the runtime was asked to remove.
fn removes(fake: &FakeRuntime) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.starts_with("remove "))
        .count()
}

#[tokio::test]
async fn replicas_scaled_away_stop_after_their_service_is_free_and_are_not_removed_twice() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 6, demo()).await;
    settle(&mut d, &t, &fake).await;
    t.state.store.set_replicas(id, 3, 1).await.unwrap();
    // The service's task takes them out of the proxy and leaves their stops.
    let stops = handed_over(&mut d, &t).await;
    assert!(
        d.shared.lock().unwrap().busy.is_empty(),
        "the service is free"
    );
    assert_eq!(d.shared.lock().unwrap().stopping.len(), 3);
    // A pass meanwhile plans no second removal.
    d.pass(&t.state).await;
    assert!(d.tasks.is_empty(), "nothing planned while they stop");
    assert_eq!(removes(&fake), 0);
    d.tasks.spawn(stops.run());
    d.finish().await;
    assert_eq!(removes(&fake), 3);
    assert!(d.shared.lock().unwrap().stopping.is_empty());
    settle(&mut d, &t, &fake).await;
    assert_eq!(per_host(&fake, id), [1, 1, 1]);
    assert_eq!(removes(&fake), 3);
}

#[tokio::test]
async fn a_service_deleted_while_its_replicas_stop_does_not_remove_them_twice() {
    let (t, fake, mut d) = world(2).await;
    let id = add_service(&t, "web", 2, demo()).await;
    settle(&mut d, &t, &fake).await;
    t.state.store.set_replicas(id, 1, 1).await.unwrap();
    let stops = handed_over(&mut d, &t).await;
    t.state.store.delete_service(id, 1, false).await.unwrap();
    // The deleted service's other replica goes; the one being stopped is left to
    // its stop task.
    d.pass(&t.state).await;
    d.tasks.spawn(stops.run());
    d.finish().await;
    assert_eq!(removes(&fake), 2, "{:?}", fake.calls());
    assert!(fake.containers().is_empty());
}
