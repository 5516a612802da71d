//! A multi-node Apache Kafka cluster (KRaft, every node broker + controller) for fault tests:
//! nodes can be killed (`SIGKILL`), restarted on the same ports and data, and paused
//! (`SIGSTOP`/`SIGCONT`).
//!
//! Node `i` (1-based) has its own directory `<state root>/cluster/cluster-XXXX/node-i/`
//! (`server.properties`, `server.log` with all of its output, `data/`). The quorum is static
//! (`controller.quorum.voters` lists every node; every node is formatted with the same cluster id
//! and no `--standalone`). Replication defaults follow the reliability setup of the shared
//! reference (for 3 nodes): `default.replication.factor=3`, `min.insync.replicas=2`, offsets and
//! transaction-state topics with replication factor 3 and `transaction.state.log.min.isr=2`.
//!
//! The JVMs never outlive the test process: the process holds a shared lease on the cluster
//! directory, and each JVM has a watchdog (the same as [`crate::broker`]'s private brokers) that
//! stops it a few seconds after nobody holds the lease. [`Drop`] kills every node.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::MetadataResponse;

use crate::broker::wire::Conn;
use crate::broker::{
    BrokerError, KafkaRuntime, LogContext, Node, PRIVATE_IDLE_GRACE_SECS, io_err, java_base,
    kafka_runtime, lock_shared, open_lock_file, random_cluster_id, remove_abandoned_private_dirs,
    signal, state_root, tail_of,
};

/// How to run the cluster's nodes ([`Cluster::start_with`]).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// JVM options of every node (heap, GC). The testkit adds class path, logging and markers.
    pub jvm_opts: Vec<String>,
    /// Extra broker properties for every node; they override the testkit's.
    pub server_properties: Vec<(String, String)>,
    /// How long to wait for a node (or the whole cluster) to answer Metadata after starting.
    pub ready_timeout: Duration,
    /// Feature levels set at format time (see [`crate::broker::BrokerOptions::features`]).
    pub features: Vec<(String, i16)>,
}

/// Three JVMs share 2 cores in CI: a small heap, and the serial collector (no parallel GC
/// threads competing with the other nodes).
const DEFAULT_JVM_OPTS: &[&str] = &[
    "-Xms384m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
];

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            jvm_opts: DEFAULT_JVM_OPTS.iter().map(|s| (*s).to_owned()).collect(),
            server_properties: Vec::new(),
            ready_timeout: Duration::from_secs(120),
            features: Vec::new(),
        }
    }
}

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// Partition index.
    pub partition: i32,
    /// Leader node id, `None` while there is none (`-1`).
    pub leader: Option<i32>,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
    /// Partition-level error code (0 = none; 5 LEADER_NOT_AVAILABLE while offline).
    pub error_code: i16,
}

/// A running multi-node KRaft cluster owned by this handle; every node is killed on drop.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<ClusterNode>,
    cluster_id: String,
    ready_timeout: Duration,
    _lease: File,
    /// Removes every node's directory on drop (after `Drop for Cluster` killed the JVMs).
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
struct ClusterNode {
    id: i32,
    node: Node,
    child: Option<Child>,
    paused: bool,
}

impl ClusterNode {
    fn running(&self) -> bool {
        self.child.is_some()
    }
    fn reachable(&self) -> bool {
        self.child.is_some() && !self.paused
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    /// Starts an `n`-node cluster with [`ClusterOptions::default`] and waits until every node
    /// answers Metadata listing all `n` brokers.
    pub fn start(n: usize) -> Result<Self, BrokerError> {
        Self::start_with(n, ClusterOptions::default())
    }

    /// Starts an `n`-node cluster with `opts` (see [`Cluster::start`]).
    pub fn start_with(n: usize, opts: ClusterOptions) -> Result<Self, BrokerError> {
        let n = n.max(1);
        let rt = kafka_runtime()?;
        let root = state_root().join("cluster");
        fs::create_dir_all(&root)
            .map_err(|e| io_err("creating the cluster state directory", &root, e))?;
        remove_abandoned_private_dirs(&root);
        let dir = tempfile::Builder::new()
            .prefix("cluster-")
            .tempdir_in(&root)
            .map_err(|e| io_err("creating a cluster directory", &root, e))?;
        let lease_path = dir.path().join("lease");
        let lease = open_lock_file(&lease_path)?;
        lock_shared(&lease, &lease_path)?;
        let cluster_id = random_cluster_id()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports = free_ports(2 * n)?;
            let mut nodes: Vec<ClusterNode> = (0..n)
                .map(|i| {
                    let node_dir = dir.path().join(format!("node-{}", i + 1));
                    ClusterNode {
                        id: i32::try_from(i + 1).unwrap_or(i32::MAX),
                        node: Node {
                            marker: node_dir.display().to_string(),
                            dir: node_dir,
                            port: ports[2 * i],
                            controller_port: ports[2 * i + 1],
                            opts: crate::broker::BrokerOptions {
                                jvm_opts: opts.jvm_opts.clone(),
                                server_properties: opts.server_properties.clone(),
                                cpus: None,
                                ready_timeout: opts.ready_timeout,
                                features: opts.features.clone(),
                            },
                            lease_path: lease_path.clone(),
                            state_path: None,
                            idle_grace_secs: PRIVATE_IDLE_GRACE_SECS,
                        },
                        child: None,
                        paused: false,
                    }
                })
                .collect();
            match launch_all(&rt, &mut nodes, &cluster_id, opts.ready_timeout) {
                Ok(()) => {
                    return Ok(Self {
                        nodes,
                        cluster_id,
                        ready_timeout: opts.ready_timeout,
                        _lease: lease,
                        _dir: dir,
                    });
                }
                Err(e) => {
                    let port_clash = nodes.iter().any(|cn| {
                        let log = fs::read_to_string(cn.node.log_path()).unwrap_or_default();
                        log.contains("Address already in use") || log.contains("BindException")
                    });
                    // Kills the JVMs (`Drop for ClusterNode`) before their directories go.
                    drop(nodes);
                    if !(port_clash && attempt < 3) {
                        return Err(e);
                    }
                    for i in 1..=n {
                        let _ = fs::remove_dir_all(dir.path().join(format!("node-{i}")));
                    }
                }
            }
        }
    }

    /// Comma-separated `host:port` of every node (running or not), for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|cn| cn.node.bootstrap())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `host:port` of one node's client listener.
    pub fn node_bootstrap(&self, node: i32) -> Result<String, BrokerError> {
        Ok(self.get(node)?.node.bootstrap())
    }

    /// The node ids, `1..=n`.
    pub fn node_ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|cn| cn.id).collect()
    }

    /// The cluster id every node was formatted with.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// True when the node's JVM runs (paused or not).
    pub fn is_running(&self, node: i32) -> bool {
        self.get(node).is_ok_and(ClusterNode::running)
    }

    /// Pid of the node's JVM while it runs.
    pub fn pid(&self, node: i32) -> Option<u32> {
        self.get(node).ok()?.child.as_ref().map(Child::id)
    }

    /// The node's log file (all JVM output).
    pub fn server_log(&self, node: i32) -> Result<PathBuf, BrokerError> {
        Ok(self.get(node)?.node.log_path())
    }

    /// The node's log directory (`<topic>-<partition>/` folders), for DumpLogSegments.
    pub fn log_dir(&self, node: i32) -> Result<PathBuf, BrokerError> {
        Ok(self.get(node)?.node.data_dir())
    }

    /// Creates a topic with replication factor `rf` (`-1`: the cluster default) and topic
    /// `configs` through any reachable node, then waits until every reachable node's Metadata
    /// shows a leader and a full ISR for every partition.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        rf: i16,
        configs: &[(&str, &str)],
    ) -> Result<(), BrokerError> {
        let timeout = self.ready_timeout;
        let deadline = Instant::now() + timeout;
        let bootstrap = self.any_reachable()?;
        let proto = |step: &str, detail: String| BrokerError::Protocol {
            step: step.to_owned(),
            bootstrap: bootstrap.clone(),
            detail,
        };
        let mut conn = Conn::connect(&bootstrap, Duration::from_secs(10))
            .map_err(|e| proto("CreateTopics", e))?;
        loop {
            let res = conn
                .create_topic(name, partitions, rf, configs, Duration::from_secs(30))
                .map_err(|e| proto("CreateTopics", e))?;
            match res.error_code {
                0 => break,
                // INVALID_REPLICATION_FACTOR while brokers are still fenced (just started),
                // REQUEST_TIMED_OUT / NOT_CONTROLLER during a controller election.
                38 | 7 | 41 if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                code => {
                    return Err(BrokerError::CreateTopic {
                        topic: name.to_owned(),
                        code,
                        message: res.error_message.map(|m| m.to_string()).unwrap_or_default(),
                    });
                }
            }
        }
        self.wait_fully_replicated(name, deadline.saturating_duration_since(Instant::now()))
    }

    /// Every partition of `topic` as the first reachable node's Metadata describes it
    /// (partition order). Errors when no node answers or the topic is unknown.
    pub fn partitions(&self, topic: &str) -> Result<Vec<PartitionState>, BrokerError> {
        let mut last = String::from("no reachable node");
        for cn in self.nodes.iter().filter(|cn| cn.reachable()) {
            match topic_metadata(&cn.node.bootstrap(), topic) {
                Ok(parts) => return Ok(parts),
                Err(e) => last = e,
            }
        }
        Err(BrokerError::Protocol {
            step: format!("Metadata for {topic}"),
            bootstrap: self.bootstrap(),
            detail: last,
        })
    }

    /// The leader of `topic`/`partition` per Metadata from a reachable node; `None` when no node
    /// answers, the partition is unknown, or it has no leader right now.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partitions(topic)
            .ok()?
            .into_iter()
            .find(|p| p.partition == partition)?
            .leader
    }

    /// Waits until every reachable node's Metadata shows, for every partition of `topic`, a
    /// leader and an ISR equal to the replica set (e.g. a restarted node has caught up).
    pub fn wait_fully_replicated(&self, topic: &str, timeout: Duration) -> Result<(), BrokerError> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let mut all = true;
            for cn in self.nodes.iter().filter(|cn| cn.reachable()) {
                match topic_metadata(&cn.node.bootstrap(), topic) {
                    Ok(parts) => {
                        let bad: Vec<&PartitionState> = parts
                            .iter()
                            .filter(|p| {
                                p.leader.is_none() || {
                                    let mut isr = p.isr.clone();
                                    let mut reps = p.replicas.clone();
                                    isr.sort_unstable();
                                    reps.sort_unstable();
                                    isr != reps
                                }
                            })
                            .collect();
                        if parts.is_empty() || !bad.is_empty() {
                            all = false;
                            last = format!("node {}: {:?}", cn.id, bad.first());
                        }
                    }
                    Err(e) => {
                        all = false;
                        last = format!("node {}: {e}", cn.id);
                    }
                }
            }
            if all {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BrokerError::Protocol {
                    step: format!("waiting for {topic} to be fully replicated"),
                    bootstrap: self.bootstrap(),
                    detail: format!("not after {timeout:?}: {last}"),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Crashes a node: `SIGKILL`, no clean shutdown. A node that is not running is left alone.
    pub fn kill(&mut self, node: i32) -> Result<(), BrokerError> {
        let cn = self.get_mut(node)?;
        if let Some(mut child) = cn.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        cn.paused = false;
        Ok(())
    }

    /// Starts a killed node again on the same ports and data, waiting until it answers Metadata
    /// listing itself (registered and unfenced). A running node is left alone.
    pub fn start_node(&mut self, node: i32) -> Result<(), BrokerError> {
        let rt = kafka_runtime()?;
        let n = self.nodes.len();
        let voters = self.voters();
        let timeout = self.ready_timeout;
        let cn = self.get_mut(node)?;
        if cn.child.is_some() {
            return Ok(());
        }
        write_config(cn, &voters, n)?;
        let child = cn.node.spawn(&rt)?;
        cn.child = Some(child);
        cn.paused = false;
        let deadline = Instant::now() + timeout;
        let id = cn.id;
        match wait_listed(cn, &[id], deadline) {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Some(mut child) = cn.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Err(e)
            }
        }
    }

    /// Freezes a node (`SIGSTOP`): its connections stay open but nothing answers.
    pub fn pause(&mut self, node: i32) -> Result<(), BrokerError> {
        let cn = self.get_mut(node)?;
        if let Some(child) = &cn.child {
            signal(child, rustix::process::Signal::STOP);
            cn.paused = true;
        }
        Ok(())
    }

    /// Resumes a paused node (`SIGCONT`).
    pub fn resume(&mut self, node: i32) -> Result<(), BrokerError> {
        let cn = self.get_mut(node)?;
        if let Some(child) = &cn.child {
            signal(child, rustix::process::Signal::CONT);
        }
        cn.paused = false;
        Ok(())
    }

    fn voters(&self) -> String {
        voters_of(&self.nodes)
    }

    fn any_reachable(&self) -> Result<String, BrokerError> {
        self.nodes
            .iter()
            .find(|cn| cn.reachable())
            .map(|cn| cn.node.bootstrap())
            .ok_or_else(|| BrokerError::Protocol {
                step: "choosing a node".into(),
                bootstrap: self.bootstrap(),
                detail: "no node is running and unpaused".into(),
            })
    }

    fn index(&self, node: i32) -> Result<usize, BrokerError> {
        usize::try_from(node)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .filter(|&i| i < self.nodes.len())
            .ok_or(BrokerError::UnknownNode {
                node,
                nodes: self.nodes.len(),
            })
    }

    fn get(&self, node: i32) -> Result<&ClusterNode, BrokerError> {
        let i = self.index(node)?;
        Ok(&self.nodes[i])
    }

    fn get_mut(&mut self, node: i32) -> Result<&mut ClusterNode, BrokerError> {
        let i = self.index(node)?;
        Ok(&mut self.nodes[i])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Kill before `_dir` deletes the data under the JVMs (field drop order would do the
        // same; explicit is clearer). A paused JVM dies on SIGKILL too.
        for cn in &mut self.nodes {
            if let Some(mut child) = cn.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Formats every node (in parallel), starts every JVM and waits until each node lists all.
fn launch_all(
    rt: &KafkaRuntime,
    nodes: &mut [ClusterNode],
    cluster_id: &str,
    timeout: Duration,
) -> Result<(), BrokerError> {
    let voters = voters_of(nodes);
    let n = nodes.len();
    for cn in nodes.iter() {
        fs::create_dir_all(&cn.node.dir)
            .map_err(|e| io_err("creating a node directory", &cn.node.dir, e))?;
        write_config(cn, &voters, n)?;
    }
    let mut formats = Vec::new();
    for cn in nodes.iter() {
        let out_path = cn.node.dir.join("format.out");
        let out = File::create(&out_path).map_err(|e| io_err("creating", &out_path, e))?;
        let err = out
            .try_clone()
            .map_err(|e| io_err("duplicating", &out_path, e))?;
        let child = format_command(rt, &cn.node, cluster_id)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| io_err("running java (StorageTool format)", Path::new("java"), e))?;
        formats.push((child, out_path));
    }
    let mut failure = None;
    for (mut child, out_path) in formats {
        let status = child
            .wait()
            .map_err(|e| io_err("waiting for StorageTool format", &out_path, e))?;
        if !status.success() && failure.is_none() {
            failure = Some(BrokerError::Tool {
                tool: "kafka.tools.StorageTool format".into(),
                detail: format!(
                    "{status}
{}",
                    tail_of(&fs::read_to_string(&out_path).unwrap_or_default(), 20)
                ),
            });
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    for cn in nodes.iter_mut() {
        cn.child = Some(cn.node.spawn(rt)?);
    }
    let all: Vec<i32> = nodes.iter().map(|cn| cn.id).collect();
    let deadline = Instant::now() + timeout;
    for cn in nodes.iter_mut() {
        wait_listed(cn, &all, deadline)?;
    }
    Ok(())
}

fn voters_of(nodes: &[ClusterNode]) -> String {
    nodes
        .iter()
        .map(|cn| format!("{}@127.0.0.1:{}", cn.id, cn.node.controller_port))
        .collect::<Vec<_>>()
        .join(",")
}

/// `StorageTool format` with the shared cluster id and no quorum flag (static voters).
fn format_command(rt: &KafkaRuntime, node: &Node, cluster_id: &str) -> Command {
    let mut cmd = java_base(rt.libs_classpath());
    cmd.arg(format!(
        "-Dlog4j2.configurationFile={}",
        node.dir.join("log4j2.properties").display()
    ))
    .arg("kafka.tools.StorageTool")
    .arg("format")
    .arg("-t")
    .arg(cluster_id)
    .arg("-c")
    .arg(node.config_path())
    .args(node.feature_args());
    cmd
}

/// Writes `server.properties` and `log4j2.properties` of one node of an `n`-node cluster.
fn write_config(cn: &ClusterNode, voters: &str, n: usize) -> Result<(), BrokerError> {
    let node = &cn.node;
    let (p, c) = (node.port, node.controller_port);
    let rf = n.min(3).to_string();
    let min_isr = n.min(2).to_string();
    let props: Vec<(String, String)> = [
        ("process.roles", "broker,controller".to_owned()),
        ("node.id", cn.id.to_string()),
        ("controller.quorum.voters", voters.to_owned()),
        (
            "listeners",
            format!("PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}"),
        ),
        (
            "advertised.listeners",
            format!("PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}"),
        ),
        ("inter.broker.listener.name", "PLAINTEXT".to_owned()),
        ("controller.listener.names", "CONTROLLER".to_owned()),
        (
            "listener.security.protocol.map",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".to_owned(),
        ),
        ("log.dirs", node.data_dir().display().to_string()),
        ("default.replication.factor", rf.clone()),
        ("min.insync.replicas", min_isr.clone()),
        ("unclean.leader.election.enable", "false".to_owned()),
        ("offsets.topic.replication.factor", rf.clone()),
        ("offsets.topic.num.partitions", "3".to_owned()),
        ("transaction.state.log.replication.factor", rf.clone()),
        ("transaction.state.log.min.isr", min_isr.clone()),
        ("transaction.state.log.num.partitions", "3".to_owned()),
        ("share.coordinator.state.topic.replication.factor", rf),
        ("share.coordinator.state.topic.min.isr", min_isr),
        ("group.initial.rebalance.delay.ms", "0".to_owned()),
        // A killed node is fenced (and loses its leaderships) after the session timeout
        // (default 9 s); shorter keeps fault tests quick without fencing live but busy nodes.
        ("broker.heartbeat.interval.ms", "1000".to_owned()),
        ("broker.session.timeout.ms", "6000".to_owned()),
        // The cleaner's dedupe buffer comes out of the heap (default 128 MiB).
        ("log.cleaner.dedupe.buffer.size", "8388608".to_owned()),
        ("num.network.threads", "2".to_owned()),
        ("num.io.threads", "2".to_owned()),
        ("num.replica.fetchers", "1".to_owned()),
        ("num.recovery.threads.per.data.dir", "1".to_owned()),
        ("auto.create.topics.enable", "false".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    node.write_server_properties(props, "cluster")
}

/// Polls the node's own Metadata until it lists every node of `want`, the JVM exits, or
/// `deadline` passes.
fn wait_listed(cn: &mut ClusterNode, want: &[i32], deadline: Instant) -> Result<(), BrokerError> {
    let bootstrap = cn.node.bootstrap();
    let log_path = cn.node.log_path();
    loop {
        if let Some(child) = cn.child.as_mut() {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| io_err("polling the JVM", &log_path, e))?
            {
                cn.child = None;
                return Err(BrokerError::Exited {
                    step: "start-up",
                    status: status.to_string(),
                    log: LogContext::of(&log_path),
                });
            }
        }
        let last_error = match Conn::connect(&bootstrap, Duration::from_secs(5))
            .and_then(|mut c| c.metadata(Some(&[])))
        {
            Ok(md) => {
                let listed: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
                if want.iter().all(|w| listed.contains(w)) {
                    return Ok(());
                }
                format!("node {} lists brokers {listed:?}", cn.id)
            }
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(BrokerError::NotReady {
                bootstrap,
                timeout: cn.node.opts.ready_timeout,
                last_error,
                log: LogContext::of(&log_path),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Metadata for one topic from `bootstrap`, as [`PartitionState`]s in partition order.
fn topic_metadata(bootstrap: &str, topic: &str) -> Result<Vec<PartitionState>, String> {
    let mut conn = Conn::connect(bootstrap, Duration::from_secs(3))?;
    let md: MetadataResponse = conn.metadata(Some(&[topic]))?;
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| &*n.0 == topic))
        .ok_or_else(|| format!("Metadata from {bootstrap} does not mention {topic}"))?;
    if t.error_code != 0 {
        return Err(format!("topic error {} from {bootstrap}", t.error_code));
    }
    let mut parts: Vec<PartitionState> = t
        .partitions
        .iter()
        .map(|p| PartitionState {
            partition: p.partition_index,
            leader: Some(p.leader_id.0).filter(|&l| l >= 0),
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            error_code: p.error_code,
        })
        .collect();
    parts.sort_by_key(|p| p.partition);
    Ok(parts)
}

/// `n` distinct free loopback ports (all bound at once, then released).
fn free_ports(n: usize) -> Result<Vec<u16>, BrokerError> {
    let err = |e: std::io::Error| io_err("probing for a free port", Path::new("127.0.0.1:0"), e);
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(err))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr().map_err(err)?.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn node(dir: &Path, id: i32, features: Vec<(String, i16)>) -> ClusterNode {
        let node_dir = dir.join(format!("node-{id}"));
        fs::create_dir_all(&node_dir).unwrap();
        ClusterNode {
            id,
            node: Node {
                marker: node_dir.display().to_string(),
                dir: node_dir,
                port: 19092,
                controller_port: 19093,
                opts: crate::broker::BrokerOptions {
                    features,
                    ..crate::broker::BrokerOptions::default()
                },
                lease_path: dir.join("lease"),
                state_path: None,
                idle_grace_secs: PRIVATE_IDLE_GRACE_SECS,
            },
            child: None,
            paused: false,
        }
    }

    /// The replication the transaction tests rely on: transaction state and offsets topics
    /// replicated 3 times, transaction state min ISR 2, topics min.insync.replicas 2.
    #[test]
    fn three_node_config_replicates_transaction_state_and_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let cn = node(dir.path(), 2, Vec::new());
        write_config(&cn, "1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3", 3).unwrap();
        let text = fs::read_to_string(cn.node.config_path()).unwrap();
        let props: Vec<(&str, &str)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .collect();
        let get = |k: &str| props.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        assert_eq!(get("transaction.state.log.replication.factor"), Some("3"));
        assert_eq!(get("transaction.state.log.min.isr"), Some("2"));
        assert_eq!(get("offsets.topic.replication.factor"), Some("3"));
        assert_eq!(get("default.replication.factor"), Some("3"));
        assert_eq!(get("min.insync.replicas"), Some("2"));
        assert_eq!(get("unclean.leader.election.enable"), Some("false"));
        assert_eq!(get("node.id"), Some("2"));
    }

    #[test]
    fn format_passes_the_feature_levels() {
        let dir = tempfile::tempdir().unwrap();
        let cn = node(dir.path(), 1, vec![("transaction.version".to_owned(), 0)]);
        let rt = KafkaRuntime {
            libs: dir.path().join("libs"),
            classes: dir.path().join("classes"),
            resolve_secs: 0.0,
        };
        let cmd = format_command(&rt, &cn.node, "abc");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = args.iter().position(|a| a == "--feature").unwrap();
        assert_eq!(args[at + 1], "transaction.version=0");
    }
}
