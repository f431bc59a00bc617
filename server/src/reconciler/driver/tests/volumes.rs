//! The loop with volume classes: a global volume's slot waits for the fence, then
//! follows its replica to another host; the old copy goes when its host returns.

use super::*;

#[tokio::test]
async fn a_global_volume_follows_its_replica_once_the_lost_host_is_fenced() {
    let (t, fake, mut d) = world(2).await;
    t.state.reconciler.configure(crate::reconciler::Settings {
        host_grace: Duration::from_millis(300),
        interval: Duration::from_secs(10),
    });
    let team = t.add_team("web").await;
    let options = [("remote".to_string(), ":local:/srv/{volume}".to_string())].into();
    t.state
        .store
        .create_volume_class(crate::store::VolumeClassFields {
            name: "disk",
            driver: "rclone",
            options: &options,
            scope: domain::wire::ClassScope::Global,
            team_ids: &[team],
            now: 0,
        })
        .await
        .unwrap();
    let s = spec(serde_json::json!({"image": "demo:v1",
        "volumes": [{"name": "data", "path": "/data", "class": "disk"}]}));
    let id = add_service(&t, "db", 1, s).await;
    settle(&mut d, &t, &fake).await;
    let first = fake.containers()[0].host_id;
    // No home is recorded: the slot is free to move.
    assert!(t.state.store.replica_homes().await.unwrap().is_empty());

    fake.fail_host(first, true);
    t.set_host_answering(first, false);
    settle(&mut d, &t, &fake).await;
    let seen = t.state.reconciler.service(id);
    assert!(
        seen.problems
            .iter()
            .any(|p| p.to_string().contains("to be fenced")),
        "{:?}",
        seen.problems
    );
    assert_eq!(
        fake.containers().len(),
        1,
        "nothing starts before the fence"
    );
    t.advance(350);
    settle(&mut d, &t, &fake).await;
    let moved: Vec<_> = fake
        .containers()
        .into_iter()
        .filter(|c| c.host_id != first)
        .collect();
    assert_eq!(moved.len(), 1, "{:?}", fake.containers());
    // Its volume on the new host is the class's, by the same name.
    use crate::runtime::ContainerRuntime;
    let vols = fake.volumes(moved[0].host_id).await.unwrap();
    assert_eq!(
        (vols[0].driver.as_str(), vols[0].class.as_deref()),
        ("rclone", Some("disk"))
    );

    // The host returns: its old copy is removed, the moved one stays.
    fake.fail_host(first, false);
    t.set_host_answering(first, true);
    settle(&mut d, &t, &fake).await;
    let old = fake.volumes(first).await.unwrap();
    assert_eq!(old[0].name, vols[0].name);
    let left = fake.containers();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].host_id, moved[0].host_id);
}
