//! The 3-node KRaft cluster: it starts, creates a replicated topic, survives a kill -9 of a
//! partition leader (a new leader is elected from the ISR), takes the node back after a restart,
//! and pauses/resumes a node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use purekafka_testkit::broker::BrokerError;
use purekafka_testkit::cluster::Cluster;

/// Polls `f` every 100 ms until it returns `Some`, for at most `timeout`.
fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn three_nodes_fail_over_and_recover() {
    let started = Instant::now();
    let mut cluster = Cluster::start(3).unwrap();
    eprintln!("cluster up in {:?}", started.elapsed());
    assert_eq!(cluster.node_ids(), vec![1, 2, 3]);
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    let pids: Vec<u32> = (1..=3).map(|n| cluster.pid(n).unwrap()).collect();

    // Unknown node ids are refused, not ignored.
    assert!(matches!(
        cluster.kill(4),
        Err(BrokerError::UnknownNode { node: 4, nodes: 3 })
    ));

    cluster
        .create_topic("tk-cluster", 3, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    let parts = cluster.partitions("tk-cluster").unwrap();
    assert_eq!(parts.len(), 3);
    for p in &parts {
        let mut reps = p.replicas.clone();
        reps.sort_unstable();
        assert_eq!(reps, vec![1, 2, 3], "RF 3: {p:?}");
        assert_eq!(p.isr.len(), 3, "full ISR after create: {p:?}");
    }

    // Kill the leader of partition 0: another ISR member takes over.
    let old = cluster.leader_of("tk-cluster", 0).unwrap();
    let old_pid = cluster.pid(old).unwrap();
    cluster.kill(old).unwrap();
    assert!(!cluster.is_running(old));
    assert!(!pid_alive(old_pid), "SIGKILL reaped the JVM");
    let t = Instant::now();
    let new = wait_for(Duration::from_secs(60), || {
        cluster
            .leader_of("tk-cluster", 0)
            .filter(|&l| l != old)
            .filter(|_| {
                cluster
                    .partitions("tk-cluster")
                    .is_ok_and(|ps| ps.iter().all(|p| !p.isr.contains(&old)))
            })
    })
    .expect("a new leader without the killed node in the ISR");
    eprintln!(
        "node {old} killed; node {new} leads partition 0 after {:?}",
        t.elapsed()
    );
    assert_ne!(new, old);
    // Every partition still has a leader (2 of 3 replicas alive, min ISR 2).
    for p in cluster.partitions("tk-cluster").unwrap() {
        assert!(p.leader.is_some_and(|l| l != old), "{p:?}");
    }

    // Restart it on the same ports and data: it rejoins every ISR.
    let t = Instant::now();
    cluster.start_node(old).unwrap();
    assert!(cluster.is_running(old));
    cluster
        .wait_fully_replicated("tk-cluster", Duration::from_secs(60))
        .unwrap();
    eprintln!("node {old} back in every ISR after {:?}", t.elapsed());
    let restarted_pid = cluster.pid(old).unwrap();
    assert_ne!(restarted_pid, old_pid);

    // Pause a node: its process is stopped (state T), then runs again.
    let victim = if old == 1 { 2 } else { 1 };
    let pid = cluster.pid(victim).unwrap();
    cluster.pause(victim).unwrap();
    let state = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = stat.rsplit_once(") ").unwrap().1;
        after.chars().next().unwrap()
    };
    assert!(
        wait_for(Duration::from_secs(5), || (state(pid) == 'T').then_some(())).is_some(),
        "paused JVM is stopped"
    );
    // Metadata still answers through the other nodes.
    assert!(cluster.partitions("tk-cluster").is_ok());
    cluster.resume(victim).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || (state(pid) != 'T').then_some(())).is_some(),
        "resumed JVM runs"
    );
    cluster
        .wait_fully_replicated("tk-cluster", Duration::from_secs(60))
        .unwrap();

    // Dropping the handle kills every node.
    let all: Vec<u32> = (1..=3).map(|n| cluster.pid(n).unwrap()).collect();
    assert_eq!(all.iter().filter(|p| pids.contains(p)).count(), 2);
    drop(cluster);
    for pid in all {
        assert!(!pid_alive(pid), "pid {pid} gone after drop");
    }
}
