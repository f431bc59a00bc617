//! What-if as tables: which replicas move where, which cannot be placed and why,
//! which slots wait for volumes on a lost host, and nothing else the plan does.

use std::collections::BTreeSet;

use super::volumes::with_volume;
use super::*;
use crate::reconciler::plan::whatif::{what_if, Consequences, Planned};

fn ask(
    desired: &[DesiredService],
    observed: &[ObservedReplica],
    hosts: &[HostInfo],
    lose: &[i64],
) -> Consequences {
    let lose = lose.iter().copied().collect();
    let all = what_if(desired, observed, hosts, &lose, NOW, SETTINGS, Planned::All);
    // On a cluster where nothing else moves, planning the affected services
    // alone answers the same.
    let affected = what_if(
        desired,
        observed,
        hosts,
        &lose,
        NOW,
        SETTINGS,
        Planned::Affected,
    );
    assert_eq!(all, affected, "losing {lose:?}");
    all
}

/// The answer in short words: `move s1/2 h2->h3`, `unplaced s1/2 from h2: ...`,
/// `stranded s1/2 on h2: data`.
fn words(c: &Consequences) -> Vec<String> {
    let mut out: Vec<String> = c
        .moves
        .iter()
        .map(|m| format!("move s{}/{} h{}->h{}", m.service_id, m.slot, m.from, m.to))
        .collect();
    out.extend(c.unplaced.iter().map(|u| {
        format!(
            "unplaced s{}/{} from h{}: {}",
            u.service_id, u.slot, u.from, u.why
        )
    }));
    out.extend(c.stranded.iter().map(|s| {
        format!(
            "stranded s{}/{} on h{}: {}",
            s.service_id,
            s.slot,
            s.host,
            s.volumes.join(",")
        )
    }));
    out
}

/// `s` with each replica reserving `cpu_millis`.
fn needing_cpu(mut s: DesiredService, cpu_millis: u32) -> DesiredService {
    s.spec.resources.cpu_millis = cpu_millis;
    s.spec_hash = s.spec.hash();
    s
}

fn spread(s: &DesiredService, on: &[(u32, i64)]) -> Vec<ObservedReplica> {
    on.iter().map(|(slot, host)| rep(s, *slot, *host)).collect()
}

#[test]
fn losing_a_host_moves_its_replicas_where_the_planner_would_put_them() {
    let s1 = service(1, 3);
    let s2 = service(2, 2);
    let mut observed = spread(&s1, &[(1, 1), (2, 2), (3, 3)]);
    observed.extend(spread(&s2, &[(1, 2), (2, 3)]));
    let hs = hosts(3);
    let desired = [s1, s2];
    // (hosts lost, the answer)
    let cases: [(&[i64], &[&str]); 4] = [
        (&[], &[]),
        (&[2], &["move s1/2 h2->h1", "move s2/1 h2->h1"]),
        (
            &[2, 3],
            &[
                "move s1/2 h2->h1",
                "move s1/3 h3->h1",
                "move s2/1 h2->h1",
                "move s2/2 h3->h1",
            ],
        ),
        // A host that is not registered holds nothing: nothing moves.
        (&[4], &[]),
    ];
    for (lose, want) in cases {
        let c = ask(&desired, &observed, &hs, lose);
        assert_eq!(words(&c), want, "losing {lose:?}");
        assert!(c.whole(), "losing {lose:?}");
    }
    // The answer is what the reconciler then does: the plan once the host is
    // silent past its grace starts the same replicas on the same hosts.
    let mut gone = hs.clone();
    gone[1].state = HostState::Unreachable;
    gone[1].unreachable_since_ms = Some(NOW - SETTINGS.host_grace_ms);
    let p = run(&desired, &observed, &gone);
    let starts: Vec<String> = show(&p)
        .into_iter()
        .filter(|a| a.starts_with("start"))
        .collect();
    assert_eq!(
        starts,
        [
            "start 2@h1: replica 2 moved: host h2 unreachable for 10 s",
            "start 1@h1: replica 1 moved: host h2 unreachable for 10 s",
        ]
    );
}

#[test]
fn what_cannot_be_placed_is_named_with_the_reason() {
    // Each replica takes most of a host: the lost one's finds no room.
    let big = needing_cpu(service(1, 3), 1500);
    let observed = spread(&big, &[(1, 1), (2, 2), (3, 3)]);
    let c = ask(std::slice::from_ref(&big), &observed, &hosts(3), &[2]);
    assert_eq!(
        words(&c),
        ["unplaced s1/2 from h2: replica 2 not placed: 2 hosts lack 1.5 CPU free, 1 host unreachable"]
    );
    assert!(!c.whole());
}

#[test]
fn a_slot_whose_own_volumes_are_on_the_lost_host_strands_and_others_still_move() {
    let s = with_volume(service(1, 2), "per-replica", &[(1, 1), (2, 2)]);
    let plain = service(2, 1);
    let mut observed = spread(&s, &[(1, 1), (2, 2)]);
    observed.extend(spread(&plain, &[(1, 2)]));
    let c = ask(&[s, plain], &observed, &hosts(3), &[2]);
    assert_eq!(words(&c), ["move s2/1 h2->h1", "stranded s1/2 on h2: data"]);
    assert!(!c.whole());
}

#[test]
fn what_the_plan_would_do_anyway_is_not_part_of_the_answer() {
    let s = service(1, 3);
    let mut observed = spread(&s, &[(1, 1), (2, 2), (3, 3)]);
    // Slot 3 crashed on h3: the plan replaces it whatever is lost.
    observed[2].status = Status::Exited { code: 1 };
    let c = ask(std::slice::from_ref(&s), &observed, &hosts(3), &[2]);
    // (to h3: its crashed replica no longer counts there, so spreading picks it)
    assert_eq!(words(&c), ["move s1/2 h2->h3"]);
    // A replica being stopped on the lost host (its slot served elsewhere), or one
    // of a slot scaled away, moves nowhere.
    let mut observed = spread(&s, &[(1, 1), (2, 1), (2, 2), (3, 3), (4, 2)]);
    observed[2].stopping = true;
    let c = ask(std::slice::from_ref(&s), &observed, &hosts(3), &[2]);
    assert_eq!(words(&c), Vec::<String>::new());
}

#[test]
fn room_held_by_replicas_being_stopped_counts_as_free_and_a_replica_that_fits_nowhere_says_so() {
    // Each host takes one replica of `big`; a replica of `small` being stopped
    // on h3 still holds room there.
    let big = needing_cpu(service(1, 2), 1500);
    let small = needing_cpu(service(2, 0), 1500);
    let mut observed = spread(&big, &[(1, 1), (2, 2)]);
    let mut leaving = rep(&small, 1, 3);
    leaving.stopping = true;
    observed.push(leaving);
    let desired = [big.clone(), small];
    // Its room is free in a moment: big's replica of h2 goes to h3.
    let c = ask(&desired, &observed, &hosts(3), &[2]);
    assert_eq!(words(&c), ["move s1/2 h2->h3"]);
    // With no third host, it fits nowhere: named, not left out.
    let c = ask(&desired, &observed[..2], &hosts(2), &[2]);
    assert_eq!(
        words(&c),
        ["unplaced s1/2 from h2: replica 2 not placed: 1 host lacks 1.5 CPU free, 1 host unreachable"]
    );
    assert!(!c.whole());
}

#[test]
fn planning_every_service_counts_the_room_other_services_take_in_the_same_pass() {
    // s2 is scaled up this pass and takes h3's room; s1's replica of h2 then
    // fits nowhere. Planning s1 alone (the N-1 check's shortcut) would not see it.
    let s1 = needing_cpu(service(1, 2), 1500);
    let s2 = needing_cpu(service(2, 1), 1500);
    let observed = spread(&s1, &[(1, 1), (2, 2)]);
    // (s2 first: the loop plans services in the order of their names)
    let desired = [s2, s1];
    let lose = BTreeSet::from([2]);
    let all = what_if(
        &desired,
        &observed,
        &hosts(3),
        &lose,
        NOW,
        SETTINGS,
        Planned::All,
    );
    assert_eq!(
        words(&all),
        ["unplaced s1/2 from h2: replica 2 not placed: 2 hosts lack 1.5 CPU free, 1 host unreachable"]
    );
    let affected = what_if(
        &desired,
        &observed,
        &hosts(3),
        &lose,
        NOW,
        SETTINGS,
        Planned::Affected,
    );
    assert_eq!(words(&affected), ["move s1/2 h2->h3"]);
}
