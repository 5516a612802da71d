//! A real Apache Kafka broker (KRaft combined mode, from Maven Central jars) for tests.
//!
//! # Sharing one broker per test run
//! [`Kafka::shared`] gives every test process of one `cargo test` run the same broker. Its state
//! lives in `<target>/purekafka-kafka/shared/`:
//! - `start.lock`: held exclusively while a process checks for, or starts, the broker;
//! - `lease`: every process using the broker holds a *shared* `flock` on it for its whole
//!   lifetime (the OS drops it when the process dies, even on `SIGKILL`);
//! - `state`: bootstrap address and JVM pid, written once the broker answers Metadata;
//! - `run/`: `server.properties`, `server.log` (all broker output), `data/` (log dirs).
//!
//! A watchdog shell process started next to the JVM stops it once nobody has held the lease for
//! [`SHARED_IDLE_GRACE_SECS`] consecutive seconds (this bridges the gap between two test binaries)
//! or after [`MAX_LIFETIME_SECS`]. It stops the broker while holding the lease exclusively, so a
//! process can never attach to a broker that is being stopped.
//!
//! Set `KAFKA_BOOTSTRAP=host:port` to use an already running broker instead: nothing is started.
//!
//! # Requirements and knobs
//! Linux (`flock(2)`, `/proc`), Java 17+ with the `jdk.compiler` module (any JDK; Debian's
//! `openjdk-17-jre-headless` has it too, no `javac` binary needed), `flock(1)` and `sh`; Maven
//! (`mvn`) only while the jars are not cached yet. Environment variables:
//! - `KAFKA_BOOTSTRAP`: use this broker for [`Kafka::shared`];
//! - `PUREKAFKA_CACHE_DIR`: jar cache root (default `$XDG_CACHE_HOME/purekafka` or
//!   `~/.cache/purekafka`; jars in `kafka-4.1.2/libs-<pom hash>/`);
//! - `PUREKAFKA_KAFKA_STATE_DIR`: broker state root (default `<target>/purekafka-kafka`);
//! - `PUREKAFKA_KAFKA_JVM_OPTS`, `PUREKAFKA_KAFKA_CPUS`: heap/GC/JIT options and CPU pinning
//!   (`taskset -c`) of the shared broker.
//!
//! Broker output never reaches the test's stdout: it goes to `server.log` in the broker's
//! directory ([`Kafka::server_log`]), whose path and last lines every start-up error carries.
//! Topics must be created explicitly (`auto.create.topics.enable=false`); records with old
//! timestamps need `retention.ms=-1` (and `segment.ms` large) or the broker deletes them.

mod jars;
pub(crate) mod wire;

use std::fs::{self, File};
use std::io::{self, Read as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use jars::{KafkaRuntime, cache_root, kafka_runtime};

/// The pinned Apache Kafka version (the reference implementation).
pub const KAFKA_VERSION: &str = "4.1.2";

/// Seconds without any lease holder after which the watchdog stops the shared broker.
pub const SHARED_IDLE_GRACE_SECS: u32 = 15;

/// Topic configs for records with old timestamps: the broker would otherwise roll their
/// segment at the next append (`segment.ms` counts from the first record's timestamp) and
/// delete it (`retention.ms`) before a reader gets to it.
pub const KEEP_OLD_RECORDS: &[(&str, &str)] =
    &[("retention.ms", "-1"), ("segment.ms", "315360000000000")];

/// Hard upper bound on the life of any broker started by the testkit (seconds).
pub const MAX_LIFETIME_SECS: u32 = 3600;

/// Seconds without a lease holder after which a private broker's watchdog stops it (its owner
/// died without running `Drop`).
pub(crate) const PRIVATE_IDLE_GRACE_SECS: u32 = 3;

/// The node id of every broker the testkit starts.
const NODE_ID: i32 = 1;

/// Env var: bootstrap address of an already running broker to use instead of starting one.
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP";

/// Env var: whitespace-separated JVM options replacing [`BrokerOptions::default`]'s for the shared
/// broker (e.g. to give it more heap for a benchmark).
pub const JVM_OPTS_ENV: &str = "PUREKAFKA_KAFKA_JVM_OPTS";

/// Env var: CPU list (`taskset -c` syntax) to pin the shared broker's JVM to.
pub const CPUS_ENV: &str = "PUREKAFKA_KAFKA_CPUS";

/// Env var: directory for broker state instead of `<target>/purekafka-kafka`.
pub const STATE_DIR_ENV: &str = "PUREKAFKA_KAFKA_STATE_DIR";

/// The KIP-890 feature flag: level 2 (Kafka 4.x's default) enables transaction version 2.
pub const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";

/// Why starting, reaching or driving the test broker (or one of the Java tools) failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A file-system or process operation failed.
    #[error("{step} ({path}): {source}")]
    Io {
        /// What the testkit was doing.
        step: String,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An external tool (mvn, javac, java, a Kafka tool) failed.
    #[error("{tool} failed: {detail}")]
    Tool {
        /// The tool and what it was asked to do.
        tool: String,
        /// Exit status and the tail of its output.
        detail: String,
    },
    /// The broker JVM exited while the testkit waited for it.
    #[error("the Kafka broker JVM exited during {step} ({status}); {log}")]
    Exited {
        /// Start-up step.
        step: &'static str,
        /// Its exit status.
        status: String,
        /// Where its log is, and its last lines.
        log: LogContext,
    },
    /// The broker did not answer Metadata listing itself in time.
    #[error(
        "the Kafka broker at {bootstrap} was not ready within {timeout:?} (last error: {last_error}); {log}"
    )]
    NotReady {
        /// Address that was polled.
        bootstrap: String,
        /// How long the testkit waited.
        timeout: Duration,
        /// The last connection or protocol error seen.
        last_error: String,
        /// Where its log is, and its last lines.
        log: LogContext,
    },
    /// A request to the broker failed at the protocol level.
    #[error("{step} against {bootstrap}: {detail}")]
    Protocol {
        /// The request being made.
        step: String,
        /// The broker address.
        bootstrap: String,
        /// Connection, encoding or decoding error.
        detail: String,
    },
    /// The broker refused to create a topic.
    #[error("creating topic {topic:?}: Kafka error code {code} ({message})")]
    CreateTopic {
        /// Topic name.
        topic: String,
        /// Kafka error code (e.g. 36 TOPIC_ALREADY_EXISTS).
        code: i16,
        /// The broker's error message, if any.
        message: String,
    },
    /// `KAFKA_BOOTSTRAP` (or another address) is unusable.
    #[error("bad bootstrap address {value:?}: {reason}")]
    BadBootstrap {
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The operation needs a private broker (from [`Kafka::start`]).
    #[error("{op} is only possible on a private broker started with Kafka::start")]
    NotPrivate {
        /// The refused operation.
        op: &'static str,
    },
    /// A cluster operation named a node id the cluster does not have.
    #[error("no node {node} in this cluster (nodes 1..={nodes})")]
    UnknownNode {
        /// The node id asked for.
        node: i32,
        /// How many nodes the cluster has.
        nodes: usize,
    },
}

/// A log file and its last lines, attached to start-up errors.
#[derive(Debug, Clone)]
pub struct LogContext {
    /// The log file.
    pub path: PathBuf,
    /// Its last lines at the time of the error.
    pub tail: String,
}

impl std::fmt::Display for LogContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "log: {}\n--- last lines ---\n{}",
            self.path.display(),
            self.tail
        )
    }
}

impl LogContext {
    pub(crate) fn of(path: &Path) -> Self {
        let text = fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Self {
            path: path.to_path_buf(),
            tail: tail_of(&text, 40),
        }
    }
}

/// How to run a private broker ([`Kafka::start`]); the shared broker uses the defaults, adjusted
/// by [`JVM_OPTS_ENV`] and [`CPUS_ENV`].
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// JVM options (heap, GC, JIT). The testkit adds class path, logging and marker options.
    pub jvm_opts: Vec<String>,
    /// Extra broker properties; they override the testkit's (e.g. `("log.segment.bytes", "1048576")`).
    pub server_properties: Vec<(String, String)>,
    /// Pin the JVM to these CPUs (`taskset -c` list such as `"1"` or `"0-1"`).
    pub cpus: Option<String>,
    /// How long to wait for the broker to answer Metadata after the JVM starts.
    pub ready_timeout: Duration,
    /// Feature levels set when the storage is formatted (`StorageTool format --feature
    /// name=level`), e.g. `("transaction.version", 0)` for a broker without KIP-890 transaction
    /// version 2 ([`BrokerOptions::with_transaction_version`]). Empty: the release's defaults.
    pub features: Vec<(String, i16)>,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        Self {
            jvm_opts: DEFAULT_JVM_OPTS.iter().map(|s| (*s).to_owned()).collect(),
            server_properties: Vec::new(),
            cpus: None,
            ready_timeout: Duration::from_secs(90),
            features: Vec::new(),
        }
    }
}

/// Heap sized for tests on a small shared machine. Measured on 2 cores (JVM start to "Kafka Server
/// started"): C1-only JIT (`-XX:TieredStopAtLevel=1`) starts in ~1.6-1.8 s versus ~2.0-2.3 s with
/// the full tiered JIT; the broker keeps full JIT because it also serves throughput benchmarks,
/// where a C1-only broker would be the bottleneck. `-Xms1g` start-up was no faster and costs RSS.
const DEFAULT_JVM_OPTS: &[&str] = &[
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
];

impl BrokerOptions {
    /// Formats the broker with `transaction.version` at `level` (Kafka 4.x defaults to 2, KIP-890
    /// "TV2"; 0 gives the pre-KIP-890 protocol with AddPartitionsToTxn, "TV1" in the issue).
    #[must_use]
    pub fn with_transaction_version(mut self, level: i16) -> Self {
        self.features
            .retain(|(name, _)| name != TRANSACTION_VERSION_FEATURE);
        self.features
            .push((TRANSACTION_VERSION_FEATURE.to_owned(), level));
        self
    }

    /// The defaults, with [`JVM_OPTS_ENV`] and [`CPUS_ENV`] applied.
    pub fn from_env() -> Self {
        let mut opts = Self::default();
        if let Ok(v) = std::env::var(JVM_OPTS_ENV) {
            if !v.trim().is_empty() {
                opts.jvm_opts = v.split_whitespace().map(str::to_owned).collect();
            }
        }
        if let Ok(v) = std::env::var(CPUS_ENV) {
            if !v.trim().is_empty() {
                opts.cpus = Some(v.trim().to_owned());
            }
        }
        opts
    }
}

/// Handle to a running broker: the run-wide shared one, an external one (`KAFKA_BOOTSTRAP`), or
/// a private one owned by this handle.
#[derive(Debug)]
pub struct Kafka {
    bootstrap: String,
    kind: Kind,
    /// Set when this handle started the broker.
    startup: Option<StartupTimings>,
}

/// Where start-up time went, for a broker this process started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartupTimings {
    /// Resolving jars and compiling helpers in this process (zero when cached).
    pub resolve: Duration,
    /// `StorageTool format` (a JVM run).
    pub format: Duration,
    /// From spawning the broker JVM until Metadata lists it.
    pub jvm_ready: Duration,
    /// Launch attempts (more than 1 after a port clash).
    pub attempts: u32,
}

#[derive(Debug)]
enum Kind {
    External,
    Shared {
        /// Held (shared flock) until this process exits: see the module docs.
        _lease: File,
        /// Boxed like `Private`: keeps `Kind` small.
        node: Box<Node>,
        pid: u32,
    },
    Private(Box<Private>),
}

#[derive(Debug)]
struct Private {
    node: Node,
    child: Option<Child>,
    _lease: File,
    /// Removes the broker's directory on drop.
    _dir: tempfile::TempDir,
}

/// Files and ports of one broker node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) controller_port: u16,
    pub(crate) opts: BrokerOptions,
    /// Unique text in the JVM's command line so a pid can be checked before it is signalled.
    pub(crate) marker: String,
    pub(crate) lease_path: PathBuf,
    /// Removed by the watchdog when it stops the broker (empty for private brokers).
    pub(crate) state_path: Option<PathBuf>,
    pub(crate) idle_grace_secs: u32,
}

impl Node {
    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }
    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn write_config(&self) -> Result<(), BrokerError> {
        let (p, c) = (self.port, self.controller_port);
        let data = self.data_dir();
        let props: Vec<(String, String)> = [
            ("process.roles", "broker,controller".to_owned()),
            ("node.id", NODE_ID.to_string()),
            (
                "controller.quorum.bootstrap.servers",
                format!("127.0.0.1:{c}"),
            ),
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
            ("log.dirs", data.display().to_string()),
            ("offsets.topic.replication.factor", "1".to_owned()),
            ("offsets.topic.num.partitions", "1".to_owned()),
            ("transaction.state.log.replication.factor", "1".to_owned()),
            ("transaction.state.log.min.isr", "1".to_owned()),
            ("transaction.state.log.num.partitions", "1".to_owned()),
            (
                "share.coordinator.state.topic.replication.factor",
                "1".to_owned(),
            ),
            ("share.coordinator.state.topic.min.isr", "1".to_owned()),
            ("group.initial.rebalance.delay.ms", "0".to_owned()),
            // The cleaner's dedupe buffer comes out of the heap (default 128 MiB).
            ("log.cleaner.dedupe.buffer.size", "16777216".to_owned()),
            ("num.network.threads", "2".to_owned()),
            ("num.io.threads", "2".to_owned()),
            ("num.recovery.threads.per.data.dir", "1".to_owned()),
            ("auto.create.topics.enable", "false".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        self.write_server_properties(props, "single node")
    }

    /// Writes `server.properties` (`defaults`, then the caller's overrides replacing or adding
    /// keys) and the broker's log4j config into the node's directory.
    pub(crate) fn write_server_properties(
        &self,
        mut props: Vec<(String, String)>,
        kind: &str,
    ) -> Result<(), BrokerError> {
        for (k, v) in &self.opts.server_properties {
            match props.iter_mut().find(|(pk, _)| pk == k) {
                Some(slot) => slot.1.clone_from(v),
                None => props.push((k.clone(), v.clone())),
            }
        }
        let mut text =
            format!("# Written by purekafka-testkit ({kind}); regenerated at every start.\n");
        for (k, v) in props {
            text.push_str(&format!("{k}={v}\n"));
        }
        let path = self.config_path();
        fs::write(&path, text).map_err(|e| io_err("writing server.properties", &path, e))?;
        let log4j = self.dir.join("log4j2.properties");
        fs::write(&log4j, BROKER_LOG4J).map_err(|e| io_err("writing log4j2.properties", &log4j, e))
    }

    /// `--feature name=level` for every feature of [`BrokerOptions::features`].
    pub(crate) fn feature_args(&self) -> Vec<String> {
        self.opts
            .features
            .iter()
            .flat_map(|(name, level)| ["--feature".to_owned(), format!("{name}={level}")])
            .collect()
    }

    /// `kafka.tools.StorageTool format --standalone` with a fresh cluster id.
    fn format(&self, rt: &KafkaRuntime) -> Result<(), BrokerError> {
        let cluster_id = random_cluster_id()?;
        let out = java_base(rt.libs_classpath())
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg("kafka.tools.StorageTool")
            .arg("format")
            .arg("-t")
            .arg(&cluster_id)
            .arg("-c")
            .arg(self.config_path())
            .arg("--standalone")
            .args(self.feature_args())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| io_err("running java (StorageTool format)", Path::new("java"), e))?;
        if !out.status.success() {
            return Err(BrokerError::Tool {
                tool: "kafka.tools.StorageTool format".into(),
                detail: format!(
                    "{}\n{}{}",
                    out.status,
                    tail_of(&String::from_utf8_lossy(&out.stdout), 20),
                    tail_of(&String::from_utf8_lossy(&out.stderr), 20)
                ),
            });
        }
        Ok(())
    }

    /// Starts the JVM (output appended to `server.log`) and its watchdog.
    pub(crate) fn spawn(&self, rt: &KafkaRuntime) -> Result<Child, BrokerError> {
        let log_path = self.log_path();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io_err("opening the broker log", &log_path, e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| io_err("duplicating the log handle", &log_path, e))?;
        let mut cmd = match &self.opts.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg("java");
                c
            }
            None => Command::new("java"),
        };
        cmd.args(&self.opts.jvm_opts)
            .arg(format!("-Dpurekafka.testkit.broker={}", self.marker))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg(format!(
                "-Dkafka.logs.dir={}",
                self.dir.join("logs").display()
            ))
            .arg("-cp")
            .arg(rt.libs_classpath())
            .arg("kafka.Kafka")
            .arg(self.config_path())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        // Its own process group: a Ctrl-C aimed at one test binary must not take the shared
        // broker away from the others; the watchdog cleans up instead.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .map_err(|e| io_err("starting the broker JVM", Path::new("java"), e))?;
        if let Err(e) = self.spawn_watchdog(child.id()) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(child)
    }

    fn spawn_watchdog(&self, pid: u32) -> Result<(), BrokerError> {
        // Without flock(1) the watchdog would think the lease is always held and never stop the
        // broker early; refuse instead of leaking JVMs.
        let flock_ok = Command::new("flock")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !flock_ok {
            return Err(BrokerError::Tool {
                tool: "flock (util-linux)".into(),
                detail: "not found; the broker watchdog needs it".into(),
            });
        }
        let script = self.dir.join("watchdog.sh");
        fs::write(&script, WATCHDOG_SH).map_err(|e| io_err("writing the watchdog", &script, e))?;
        let state = self
            .state_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        // The outer `sh` exits at once (we reap it); the watchdog is re-parented to init, so it
        // outlives the test process that started it.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("script=$1; shift; sh \"$script\" \"$@\" </dev/null >/dev/null 2>&1 &")
            .arg("sh")
            .arg(&script)
            .arg(&self.lease_path)
            .arg(pid.to_string())
            .arg(self.idle_grace_secs.to_string())
            .arg(MAX_LIFETIME_SECS.to_string())
            .arg(&self.marker)
            .arg(state)
            .arg(self.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let status = cmd
            .status()
            .map_err(|e| io_err("starting the watchdog", &script, e))?;
        if !status.success() {
            return Err(BrokerError::Tool {
                tool: "watchdog".into(),
                detail: status.to_string(),
            });
        }
        Ok(())
    }

    /// Polls Metadata until the broker lists itself, the JVM exits, or the timeout passes.
    fn wait_ready(&self, child: &mut Child) -> Result<(), BrokerError> {
        let deadline = Instant::now() + self.opts.ready_timeout;
        let bootstrap = self.bootstrap();
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| io_err("polling the JVM", &self.log_path(), e))?
            {
                return Err(BrokerError::Exited {
                    step: "start-up",
                    status: status.to_string(),
                    log: LogContext::of(&self.log_path()),
                });
            }
            let last_error = match broker_listed(&bootstrap) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(BrokerError::NotReady {
                    bootstrap,
                    timeout: self.opts.ready_timeout,
                    last_error,
                    log: LogContext::of(&self.log_path()),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Broker logging: everything to stdout, which the launcher sends to `server.log`. The
/// `.properties` format needs no extra jar (YAML/JSON configs would).
const BROKER_LOG4J: &str = "\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
";

/// Stops the broker JVM once no process holds the lease for `grace` consecutive seconds, or after
/// `max` seconds. Exits when the JVM is gone. Arguments: lease pid grace max marker state log.
const WATCHDOG_SH: &str = r#"# purekafka-testkit broker watchdog (see crates/testkit/src/broker.rs)
lease=$1; pid=$2; grace=$3; max=$4; marker=$5; state=$6; log=$7
ours() {
  kill -0 "$pid" 2>/dev/null && tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "-Dpurekafka.testkit.broker=$marker"
}
stop() {
  [ -n "$state" ] && rm -f "$state"
  echo "[watchdog] $1: stopping broker pid $pid" >> "$log"
  kill -TERM "$pid" 2>/dev/null
  i=0
  while ours && [ "$i" -lt 150 ]; do sleep 0.1; i=$((i+1)); done
  ours && { echo "[watchdog] broker still alive, SIGKILL" >> "$log"; kill -KILL "$pid" 2>/dev/null; }
  exit 0
}
exec 9>>"$lease"
start=$(date +%s); idle=0
while ours; do
  if flock -n -x 9; then
    idle=$((idle+1))
    # Stop while holding the lease exclusively: nobody can attach to a broker being stopped.
    [ "$idle" -ge "$grace" ] && stop "no test process for ${grace}s"
    flock -u 9
  else
    idle=0
  fi
  [ $(( $(date +%s) - start )) -ge "$max" ] && stop "maximum lifetime ${max}s reached"
  sleep 1
done
"#;

impl Kafka {
    /// The run-wide broker: `KAFKA_BOOTSTRAP` if set, else the broker shared by every test
    /// process of this target directory, started on first use (see the module docs).
    pub fn shared() -> Result<Arc<Self>, BrokerError> {
        static SHARED: Mutex<Option<Arc<Kafka>>> = Mutex::new(None);
        let mut slot = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(k) = slot.as_ref() {
            return Ok(Arc::clone(k));
        }
        let kafka = Arc::new(match std::env::var(BOOTSTRAP_ENV) {
            Ok(b) if !b.trim().is_empty() => Self::external(b.trim())?,
            _ => Self::attach_or_start_shared()?,
        });
        *slot = Some(Arc::clone(&kafka));
        Ok(kafka)
    }

    /// A handle to an already running broker at `bootstrap` ("host:port"); checks it answers.
    pub fn external(bootstrap: &str) -> Result<Self, BrokerError> {
        let bad = |reason: String| BrokerError::BadBootstrap {
            value: bootstrap.to_owned(),
            reason,
        };
        let (host, port) = bootstrap
            .rsplit_once(':')
            .ok_or_else(|| bad("expected host:port".into()))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad("expected host:port".into()));
        }
        let mut conn = wire::Conn::connect(bootstrap, Duration::from_secs(10)).map_err(bad)?;
        let md = conn.metadata(None).map_err(bad)?;
        if md.brokers.is_empty() {
            return Err(bad("Metadata lists no broker".into()));
        }
        Ok(Self {
            bootstrap: bootstrap.to_owned(),
            kind: Kind::External,
            startup: None,
        })
    }

    /// Starts a private broker (fresh data, its own ports), killed when the handle drops. For
    /// tests that stop, restart, kill or pause the broker.
    pub fn start(opts: BrokerOptions) -> Result<Self, BrokerError> {
        let rt = kafka_runtime()?;
        let root = state_root().join("private");
        fs::create_dir_all(&root)
            .map_err(|e| io_err("creating the broker state directory", &root, e))?;
        remove_abandoned_private_dirs(&root);
        let dir = tempfile::Builder::new()
            .prefix("broker-")
            .tempdir_in(&root)
            .map_err(|e| io_err("creating a private broker directory", &root, e))?;
        let lease_path = dir.path().join("lease");
        let lease = open_lock_file(&lease_path)?;
        lock_shared(&lease, &lease_path)?;
        let template = Node {
            dir: dir.path().to_path_buf(),
            port: 0,
            controller_port: 0,
            opts,
            marker: dir.path().display().to_string(),
            lease_path,
            state_path: None,
            idle_grace_secs: PRIVATE_IDLE_GRACE_SECS,
        };
        let (node, child, timings) = launch_fresh(&rt, template)?;
        Ok(Self {
            bootstrap: node.bootstrap(),
            kind: Kind::Private(Box::new(Private {
                node,
                child: Some(child),
                _lease: lease,
                _dir: dir,
            })),
            startup: Some(timings),
        })
    }

    fn attach_or_start_shared() -> Result<Self, BrokerError> {
        let dir = state_root().join("shared");
        fs::create_dir_all(&dir)
            .map_err(|e| io_err("creating the broker state directory", &dir, e))?;
        let start_lock_path = dir.join("start.lock");
        let start_lock = open_lock_file(&start_lock_path)?;
        lock_exclusive(&start_lock, &start_lock_path)?;
        let lease_path = dir.join("lease");
        let lease = open_lock_file(&lease_path)?;
        // Blocks while a watchdog is stopping the broker; afterwards its state file is gone.
        lock_shared(&lease, &lease_path)?;
        let state_path = dir.join("state");
        let run = dir.join("run");
        let marker = run.display().to_string();
        let template = Node {
            dir: run.clone(),
            port: 0,
            controller_port: 0,
            opts: BrokerOptions::from_env(),
            marker: marker.clone(),
            lease_path,
            state_path: Some(state_path.clone()),
            idle_grace_secs: SHARED_IDLE_GRACE_SECS,
        };
        if let Some((pid, port, controller_port)) = read_state(&state_path) {
            if pid_is_ours(pid, &marker) {
                let node = Node {
                    port,
                    controller_port,
                    ..template.clone()
                };
                let deadline = Instant::now() + Duration::from_secs(15);
                loop {
                    if broker_listed(&node.bootstrap()).is_ok() {
                        return Ok(Self {
                            bootstrap: node.bootstrap(),
                            kind: Kind::Shared {
                                _lease: lease,
                                node: Box::new(node),
                                pid,
                            },
                            startup: None,
                        });
                    }
                    if Instant::now() >= deadline || !pid_is_ours(pid, &marker) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                // Alive but not answering: replace it.
                kill_pid(pid, &marker);
            }
            let _ = fs::remove_file(&state_path);
        }
        let rt = kafka_runtime()?;
        let (node, child, timings) = launch_fresh(&rt, template)?;
        let pid = child.id();
        let text = format!(
            "pid={}\nport={}\ncontroller_port={}\n",
            child.id(),
            node.port,
            node.controller_port
        );
        let tmp = dir.join("state.tmp");
        fs::write(&tmp, text).map_err(|e| io_err("writing the broker state", &tmp, e))?;
        fs::rename(&tmp, &state_path)
            .map_err(|e| io_err("writing the broker state", &state_path, e))?;
        // The JVM outlives this process on purpose; dropping `Child` neither kills nor waits.
        drop(child);
        drop(start_lock);
        Ok(Self {
            bootstrap: node.bootstrap(),
            kind: Kind::Shared {
                _lease: lease,
                node: Box::new(node),
                pid,
            },
            startup: Some(timings),
        })
    }

    /// The bootstrap address, `"127.0.0.1:port"` for brokers the testkit started.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// Deletes a topic (its files go after the broker's `file.delete.delay.ms`).
    pub fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        let timeout = Duration::from_secs(30);
        let proto = |detail: String| BrokerError::Protocol {
            step: "DeleteTopics".to_owned(),
            bootstrap: self.bootstrap.clone(),
            detail,
        };
        let mut conn = wire::Conn::connect(&self.bootstrap, timeout).map_err(proto)?;
        match conn.delete_topic(name, timeout).map_err(proto)? {
            0 => Ok(()),
            code => Err(proto(format!("DeleteTopics {name}: error code {code}"))),
        }
    }

    /// Creates a topic with `partitions` partitions (replication factor 1) and topic `configs`,
    /// then waits until Metadata shows a leader for every partition.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<(), BrokerError> {
        let proto = |step: &str, detail: String| BrokerError::Protocol {
            step: step.to_owned(),
            bootstrap: self.bootstrap.clone(),
            detail,
        };
        let timeout = Duration::from_secs(30);
        let mut conn =
            wire::Conn::connect(&self.bootstrap, timeout).map_err(|e| proto("CreateTopics", e))?;
        let deadline = Instant::now() + timeout;
        loop {
            let res = conn
                .create_topic(name, partitions, -1, configs, timeout)
                .map_err(|e| proto("CreateTopics", e))?;
            match res.error_code {
                0 => break,
                // INVALID_REPLICATION_FACTOR while the just-started broker is still fenced.
                38 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                code => {
                    return Err(BrokerError::CreateTopic {
                        topic: name.to_owned(),
                        code,
                        message: res.error_message.map(|m| m.to_string()).unwrap_or_default(),
                    });
                }
            }
        }
        // CreateTopics returns once the controller committed the topic; the broker's metadata
        // cache catches up asynchronously, and it publishes leaders to Metadata slightly before
        // it has created the partitions' logs. So wait for leaders in Metadata, then (on a
        // single-broker cluster, where the connected broker leads everything) for ListOffsets
        // to succeed on every partition: after that a produce cannot hit a not-yet-led partition.
        let mut last = String::new();
        while Instant::now() < deadline {
            let md = conn
                .metadata(Some(&[name]))
                .map_err(|e| proto("Metadata", e))?;
            if let Some(t) = md
                .topics
                .iter()
                .find(|t| t.name.as_ref().is_some_and(|n| &*n.0 == name))
            {
                let ready = t.error_code == 0
                    && t.partitions.len() == usize::try_from(partitions).unwrap_or(0)
                    && t.partitions
                        .iter()
                        .all(|p| p.error_code == 0 && p.leader_id.0 >= 0);
                if ready && md.brokers.len() != 1 {
                    return Ok(());
                }
                if ready {
                    let errors = conn
                        .latest_offset_errors(name, partitions)
                        .map_err(|e| proto("ListOffsets", e))?;
                    if errors.len() == t.partitions.len() && errors.iter().all(|(_, e)| *e == 0) {
                        return Ok(());
                    }
                    last = format!("ListOffsets errors {errors:?}");
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                last = format!(
                    "topic error {}, {} partitions",
                    t.error_code,
                    t.partitions.len()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(proto(
            "waiting for topic leaders",
            format!("{name} not ready after {timeout:?}: {last}"),
        ))
    }

    /// Creates a topic named `<prefix>-<random hex>` with `partitions` partitions and returns its
    /// name; tests sharing a broker use it to stay independent.
    pub fn unique_topic(&self, prefix: &str, partitions: i32) -> Result<String, BrokerError> {
        self.unique_topic_with(prefix, partitions, &[])
    }

    /// [`Kafka::unique_topic`] with topic configs (e.g. [`KEEP_OLD_RECORDS`]).
    pub fn unique_topic_with(
        &self,
        prefix: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<String, BrokerError> {
        let name = format!("{prefix}-{}", random_hex(6)?);
        self.create_topic(&name, partitions, configs)?;
        Ok(name)
    }

    /// Node ids listed by Metadata (a readiness and sanity probe).
    pub fn broker_ids(&self) -> Result<Vec<i32>, BrokerError> {
        let mut conn =
            wire::Conn::connect(&self.bootstrap, Duration::from_secs(10)).map_err(|e| {
                BrokerError::Protocol {
                    step: "Metadata".into(),
                    bootstrap: self.bootstrap.clone(),
                    detail: e,
                }
            })?;
        let md = conn
            .metadata(Some(&[]))
            .map_err(|e| BrokerError::Protocol {
                step: "Metadata".into(),
                bootstrap: self.bootstrap.clone(),
                detail: e,
            })?;
        Ok(md.brokers.iter().map(|b| b.node_id.0).collect())
    }

    /// The broker's log directory (holding `<topic>-<partition>/*.log`), for DumpLogSegments;
    /// `None` for an external broker.
    pub fn log_dir(&self) -> Option<PathBuf> {
        self.node().map(Node::data_dir)
    }

    /// The broker's own log file (`server.log`); `None` for an external broker.
    pub fn server_log(&self) -> Option<PathBuf> {
        self.node().map(Node::log_path)
    }

    /// Pid of the broker JVM (private brokers while running, and the shared broker); `None` for
    /// an external broker.
    pub fn pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Private(p) => p.child.as_ref().map(Child::id),
            Kind::Shared { pid, .. } => Some(*pid),
            Kind::External => None,
        }
    }

    /// Start-up timings, when this handle started the broker (not when it attached to a running
    /// shared broker or an external one).
    pub fn startup_timings(&self) -> Option<StartupTimings> {
        self.startup
    }

    fn node(&self) -> Option<&Node> {
        match &self.kind {
            Kind::External => None,
            Kind::Shared { node, .. } => Some(&**node),
            Kind::Private(p) => Some(&p.node),
        }
    }

    fn private(&mut self, op: &'static str) -> Result<&mut Private, BrokerError> {
        match &mut self.kind {
            Kind::Private(p) => Ok(p),
            _ => Err(BrokerError::NotPrivate { op }),
        }
    }

    /// Clean shutdown (SIGTERM, then SIGKILL after 60 s). Private brokers only.
    pub fn stop(&mut self) -> Result<(), BrokerError> {
        let p = self.private("stop")?;
        if let Some(mut child) = p.child.take() {
            signal(&child, rustix::process::Signal::TERM);
            // A paused JVM would only see the SIGTERM once continued.
            signal(&child, rustix::process::Signal::CONT);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Crash: SIGKILL, no clean shutdown. Private brokers only.
    pub fn kill(&mut self) -> Result<(), BrokerError> {
        let p = self.private("kill")?;
        if let Some(mut child) = p.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// Freezes the JVM (SIGSTOP): connections stay open but nothing answers. Private only.
    pub fn pause(&mut self) -> Result<(), BrokerError> {
        let p = self.private("pause")?;
        if let Some(child) = &p.child {
            signal(child, rustix::process::Signal::STOP);
        }
        Ok(())
    }

    /// Resumes a paused JVM (SIGCONT). Private only.
    pub fn resume(&mut self) -> Result<(), BrokerError> {
        let p = self.private("resume")?;
        if let Some(child) = &p.child {
            signal(child, rustix::process::Signal::CONT);
        }
        Ok(())
    }

    /// Stops the broker if it runs (cleanly) and starts it again on the same ports and data,
    /// waiting until it answers Metadata. Private brokers only.
    pub fn restart(&mut self) -> Result<(), BrokerError> {
        self.stop()?;
        self.start_again()
    }

    /// Starts a stopped or killed private broker again on the same ports and data.
    pub fn start_again(&mut self) -> Result<(), BrokerError> {
        let rt = kafka_runtime()?;
        let p = self.private("start_again")?;
        if p.child.is_some() {
            return Ok(());
        }
        p.node.write_config()?;
        let mut child = p.node.spawn(&rt)?;
        if let Err(e) = p.node.wait_ready(&mut child) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        p.child = Some(child);
        Ok(())
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Formats and starts a broker on fresh ports, retrying with new ports if another process took
/// one between our probe and the JVM's bind.
fn launch_fresh(
    rt: &KafkaRuntime,
    template: Node,
) -> Result<(Node, Child, StartupTimings), BrokerError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (port, controller_port) = free_ports()?;
        let node = Node {
            port,
            controller_port,
            ..template.clone()
        };
        let data = node.data_dir();
        if node.dir.exists() {
            let _ = fs::remove_dir_all(&data);
            let _ = fs::remove_file(node.log_path());
        }
        fs::create_dir_all(&node.dir)
            .map_err(|e| io_err("creating the broker directory", &node.dir, e))?;
        node.write_config()?;
        let format_start = Instant::now();
        node.format(rt)?;
        let format = format_start.elapsed();
        let spawned = Instant::now();
        let mut child = node.spawn(rt)?;
        match node.wait_ready(&mut child) {
            Ok(()) => {
                let timings = StartupTimings {
                    resolve: Duration::from_secs_f64(rt.resolve_secs),
                    format,
                    jvm_ready: spawned.elapsed(),
                    attempts: attempt,
                };
                return Ok((node, child, timings));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = fs::read_to_string(node.log_path()).unwrap_or_default();
                let port_clash =
                    log.contains("Address already in use") || log.contains("BindException");
                if !(port_clash && attempt < 4) {
                    return Err(e);
                }
            }
        }
    }
}

/// Deletes private broker directories left by killed test processes (their `Drop` never ran):
/// those whose lease nobody holds. Recent ones are skipped: their owner may not have taken the
/// lease yet.
pub(crate) fn remove_abandoned_private_dirs(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let old_enough = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(120));
        if !old_enough {
            continue;
        }
        let Ok(lease) = File::open(dir.join("lease")) else {
            continue;
        };
        let free = rustix::fs::flock(&lease, rustix::fs::FlockOperation::NonBlockingLockExclusive);
        if free.is_ok() {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Two distinct free loopback ports (bound to port 0, then released).
fn free_ports() -> Result<(u16, u16), BrokerError> {
    let err = |e: io::Error| io_err("probing for a free port", Path::new("127.0.0.1:0"), e);
    // Both listeners are open at once, so the two ports differ.
    let a = TcpListener::bind("127.0.0.1:0").map_err(err)?;
    let b = TcpListener::bind("127.0.0.1:0").map_err(err)?;
    Ok((
        a.local_addr().map_err(err)?.port(),
        b.local_addr().map_err(err)?.port(),
    ))
}

/// Ok when Metadata from `bootstrap` lists node [`NODE_ID`].
fn broker_listed(bootstrap: &str) -> Result<(), String> {
    let mut conn = wire::Conn::connect(bootstrap, Duration::from_secs(5))?;
    let md = conn.metadata(Some(&[]))?;
    if md.brokers.iter().any(|b| b.node_id.0 == NODE_ID) {
        Ok(())
    } else {
        Err(format!(
            "Metadata lists brokers {:?}",
            md.brokers.iter().map(|b| b.node_id.0).collect::<Vec<_>>()
        ))
    }
}

/// `<target>/purekafka-kafka`, found from the running test binary (`target/<profile>/deps/..`),
/// or [`STATE_DIR_ENV`].
pub fn state_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        // Cargo marks its target directory with CACHEDIR.TAG.
        if let Some(target) = exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()) {
            return target.join("purekafka-kafka");
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/purekafka-kafka")
}

fn read_state(path: &Path) -> Option<(u32, u16, u16)> {
    let text = fs::read_to_string(path).ok()?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(str::trim)
    };
    Some((
        field("pid")?.parse().ok()?,
        field("port")?.parse().ok()?,
        field("controller_port")?.parse().ok()?,
    ))
}

/// True when `pid` runs and its command line carries our marker (guards against pid reuse).
fn pid_is_ours(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let want = format!("-Dpurekafka.testkit.broker={marker}");
    cmdline.split(|&b| b == 0).any(|arg| arg == want.as_bytes())
}

fn kill_pid(pid: u32, marker: &str) {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    if pid_is_ours(pid, marker) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid_is_ours(pid, marker) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(crate) fn signal(child: &Child, sig: rustix::process::Signal) {
    if let Some(p) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// A `java` command with the tool-side defaults (small heap, fast start) and class path `cp`.
/// The heap may grow to 2 GiB: the reference reader buffers its whole output, about 170 bytes
/// per record, and 1,000,000 records (the idempotence chaos test) overflowed 512 MiB.
pub(crate) fn java_base(cp: String) -> Command {
    let mut cmd = Command::new("java");
    cmd.args([
        "-Xms32m",
        "-Xmx2g",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Xshare:auto",
    ])
    .arg("-Djava.awt.headless=true")
    .arg("-cp")
    .arg(cp);
    cmd
}

pub(crate) fn open_lock_file(path: &Path) -> Result<File, BrokerError> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io_err("opening a lock file", path, e))
}

pub(crate) fn lock_exclusive(file: &File, path: &Path) -> Result<(), BrokerError> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io_err("locking", path, e.into()))
}

pub(crate) fn lock_shared(file: &File, path: &Path) -> Result<(), BrokerError> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::LockShared)
        .map_err(|e| io_err("locking", path, e.into()))
}

pub(crate) fn io_err(step: &str, path: &Path, source: io::Error) -> BrokerError {
    BrokerError::Io {
        step: step.to_owned(),
        path: path.to_path_buf(),
        source,
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail_of(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
    out.push('\n');
    out
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], BrokerError> {
    let mut buf = [0u8; N];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| io_err("reading random bytes", Path::new("/dev/urandom"), e))?;
    Ok(buf)
}

fn random_hex(bytes: usize) -> Result<String, BrokerError> {
    let raw = random_bytes::<16>()?;
    Ok(raw.iter().take(bytes).map(|b| format!("{b:02x}")).collect())
}

/// A Kafka cluster id: 16 random bytes, base64url without padding (22 characters), like
/// `StorageTool random-uuid`. Kafka avoids ids starting with '-' (they read as CLI flags).
/// Made here rather than with `random-uuid`: with a console log appender that tool also prints a
/// log line on stdout, and `format` accepts whatever string it is given as the cluster id.
pub(crate) fn random_cluster_id() -> Result<String, BrokerError> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let raw = random_bytes::<16>()?;
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut out = String::with_capacity(22);
        for b in raw {
            bits = (bits << 8) | u32::from(b);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out.push(char::from(ALPHABET[((bits >> nbits) & 63) as usize]));
            }
        }
        if nbits > 0 {
            out.push(char::from(ALPHABET[((bits << (6 - nbits)) & 63) as usize]));
        }
        if !out.starts_with('-') {
            return Ok(out);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Admin probes for transaction tests (pure Rust over `wire`, no JVM): finalized features,
// coordinators, committed group offsets and transaction state. Each takes a bootstrap list
// ("host:port[,host:port...]") and uses the first node that answers.
// ---------------------------------------------------------------------------------------------

/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR: the coordinator is
/// moving or loading (e.g. after a node restart); look it up again.
const COORDINATOR_RETRY_ERRORS: [i16; 3] = [14, 15, 16];

/// UNSTABLE_OFFSET_COMMIT: a transaction holding offsets of the group has not completed yet.
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

/// Which coordinator [`find_coordinator`] looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorKind {
    /// A consumer group's coordinator (FindCoordinator key type 0).
    Group,
    /// A transactional id's coordinator (key type 1).
    Transaction,
}

/// A transaction as its coordinator describes it (DescribeTransactions v0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    /// Node id of the coordinator that answered.
    pub coordinator: i32,
    /// `Empty`, `Ongoing`, `PrepareCommit`, `PrepareAbort`, `CompleteCommit`, `CompleteAbort`,
    /// `Dead` or `PrepareEpochFence`.
    pub state: String,
    /// Current producer id.
    pub producer_id: i64,
    /// Current producer epoch.
    pub producer_epoch: i16,
    /// The transaction timeout the producer asked for.
    pub timeout_ms: i32,
    /// Start of the open transaction (ms since the epoch), -1 when none is open.
    pub start_time_ms: i64,
    /// Partitions of the open transaction (or still awaiting markers), sorted.
    pub partitions: Vec<(String, i32)>,
}

fn admin_err(step: &str, bootstrap: &str, detail: String) -> BrokerError {
    BrokerError::Protocol {
        step: step.to_owned(),
        bootstrap: bootstrap.to_owned(),
        detail,
    }
}

/// Connects to the first node of a comma-separated `bootstrap` list that accepts.
fn connect_any(bootstrap: &str, step: &str) -> Result<wire::Conn, BrokerError> {
    let mut last = format!("empty bootstrap list {bootstrap:?}");
    for addr in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match wire::Conn::connect(addr, Duration::from_secs(5)) {
            Ok(conn) => return Ok(conn),
            Err(e) => last = e,
        }
    }
    Err(admin_err(step, bootstrap, last))
}

/// The finalized feature levels a broker reports in ApiVersions (v3), by name, e.g.
/// `transaction.version` -> 2 on a Kafka 4.x default broker. Kafka leaves features at level 0
/// out of the list, so a missing name means level 0 ([`transaction_version`]).
pub fn finalized_features(
    bootstrap: &str,
) -> Result<std::collections::BTreeMap<String, i16>, BrokerError> {
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::StrBytes;
    let step = "ApiVersions";
    let mut conn = connect_any(bootstrap, step)?;
    // v3+ requires a client software name and version matching [a-zA-Z0-9](...).
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("purekafka-testkit"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    let resp = conn
        .call(&req, 3)
        .map_err(|e| admin_err(step, bootstrap, e))?;
    if resp.error_code != 0 {
        return Err(admin_err(
            step,
            bootstrap,
            format!("error code {}", resp.error_code),
        ));
    }
    if resp.finalized_features_epoch < 0 {
        return Err(admin_err(
            step,
            bootstrap,
            "finalized features not known yet (epoch -1)".into(),
        ));
    }
    Ok(resp
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.max_version_level))
        .collect())
}

/// The finalized `transaction.version` (0 when the broker does not list it).
pub fn transaction_version(bootstrap: &str) -> Result<i16, BrokerError> {
    Ok(finalized_features(bootstrap)?
        .get(TRANSACTION_VERSION_FEATURE)
        .copied()
        .unwrap_or(0))
}

/// FindCoordinator (v3) for `key`: the coordinator's node id and `host:port`. Retries while the
/// cluster answers with a retriable coordinator error, up to `timeout`.
pub fn find_coordinator(
    bootstrap: &str,
    kind: CoordinatorKind,
    key: &str,
    timeout: Duration,
) -> Result<(i32, String), BrokerError> {
    use kafka_protocol::messages::FindCoordinatorRequest;
    use kafka_protocol::protocol::StrBytes;
    let step = format!("FindCoordinator({kind:?}, {key})");
    let deadline = Instant::now() + timeout;
    let key_type = match kind {
        CoordinatorKind::Group => 0,
        CoordinatorKind::Transaction => 1,
    };
    let mut last;
    loop {
        let attempt = connect_any(bootstrap, &step).and_then(|mut conn| {
            let req = FindCoordinatorRequest::default()
                .with_key(StrBytes::from_string(key.to_owned()))
                .with_key_type(key_type);
            conn.call(&req, 3)
                .map_err(|e| admin_err(&step, bootstrap, e))
        });
        match attempt {
            Ok(r) if r.error_code == 0 => {
                return Ok((r.node_id.0, format!("{}:{}", r.host, r.port)));
            }
            Ok(r) => {
                last = format!("error code {} ({:?})", r.error_code, r.error_message);
                if !COORDINATOR_RETRY_ERRORS.contains(&r.error_code) {
                    return Err(admin_err(&step, bootstrap, last));
                }
            }
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(admin_err(
                &step,
                bootstrap,
                format!("after {timeout:?}: {last}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The committed offsets of consumer group `group` for partitions `0..n` of each `(topic, n)`
/// of `topics` (OffsetFetch v7 with `require_stable`, from the group coordinator), by (topic,
/// partition); partitions without a committed offset are left out. While a transaction holding
/// offsets of the group for these partitions is still open (or its markers are not written
/// yet) the broker answers UNSTABLE_OFFSET_COMMIT and this waits, up to `timeout`: so offsets of
/// an aborted transaction never show up, and those of a committed one do once its commit is
/// complete. The partitions must be named: asked for all topics, Kafka 4.1 does not check for
/// pending transactional offsets (it leaves them out instead).
pub fn committed_offsets(
    bootstrap: &str,
    group: &str,
    topics: &[(&str, i32)],
    timeout: Duration,
) -> Result<std::collections::BTreeMap<(String, i32), i64>, BrokerError> {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let step = format!("OffsetFetch({group})");
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, coordinator) = find_coordinator(
            bootstrap,
            CoordinatorKind::Group,
            group,
            left.max(Duration::from_secs(1)),
        )?;
        let attempt =
            wire::Conn::connect(&coordinator, Duration::from_secs(5)).and_then(|mut c| {
                let req = OffsetFetchRequest::default()
                    .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
                    .with_topics(Some(
                        topics
                            .iter()
                            .map(|(t, n)| {
                                OffsetFetchRequestTopic::default()
                                    .with_name(TopicName(StrBytes::from_string((*t).to_owned())))
                                    .with_partition_indexes((0..*n).collect())
                            })
                            .collect(),
                    ))
                    .with_require_stable(true);
                c.call(&req, 7)
            });
        match attempt {
            Ok(r) => {
                let partition_error = r
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| p.error_code)
                    .find(|&e| e != 0);
                match (r.error_code, partition_error) {
                    (0, None) => {
                        return Ok(r
                            .topics
                            .iter()
                            .flat_map(|t| {
                                t.partitions
                                    .iter()
                                    .filter(|p| p.committed_offset >= 0)
                                    .map(|p| {
                                        (
                                            (t.name.0.to_string(), p.partition_index),
                                            p.committed_offset,
                                        )
                                    })
                            })
                            .collect());
                    }
                    (code, perr) => {
                        let code = if code != 0 { code } else { perr.unwrap_or(0) };
                        last = format!("error code {code}");
                        if code != UNSTABLE_OFFSET_COMMIT
                            && !COORDINATOR_RETRY_ERRORS.contains(&code)
                        {
                            return Err(admin_err(&step, &coordinator, last));
                        }
                    }
                }
            }
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            return Err(admin_err(
                &step,
                bootstrap,
                format!("after {timeout:?}: {last}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// DescribeTransactions (v0) for `transactional_id` from its coordinator, retrying while the
/// coordinator moves or loads, up to `timeout`. Errors with TRANSACTIONAL_ID_NOT_FOUND (105) for
/// an id the coordinator does not know.
pub fn describe_transaction(
    bootstrap: &str,
    transactional_id: &str,
    timeout: Duration,
) -> Result<TxnDescription, BrokerError> {
    use kafka_protocol::messages::{DescribeTransactionsRequest, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    let step = format!("DescribeTransactions({transactional_id})");
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (node, coordinator) = find_coordinator(
            bootstrap,
            CoordinatorKind::Transaction,
            transactional_id,
            left.max(Duration::from_secs(1)),
        )?;
        let attempt =
            wire::Conn::connect(&coordinator, Duration::from_secs(5)).and_then(|mut c| {
                let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![
                    TransactionalId(StrBytes::from_string(transactional_id.to_owned())),
                ]);
                c.call(&req, 0)
            });
        match attempt {
            Ok(r) => match r.transaction_states.first() {
                Some(s) if s.error_code == 0 => {
                    let mut partitions: Vec<(String, i32)> = s
                        .topics
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.0.to_string(), p)))
                        .collect();
                    partitions.sort();
                    return Ok(TxnDescription {
                        coordinator: node,
                        state: s.transaction_state.to_string(),
                        producer_id: s.producer_id.0,
                        producer_epoch: s.producer_epoch,
                        timeout_ms: s.transaction_timeout_ms,
                        start_time_ms: s.transaction_start_time_ms,
                        partitions,
                    });
                }
                Some(s) => {
                    last = format!("error code {}", s.error_code);
                    if !COORDINATOR_RETRY_ERRORS.contains(&s.error_code) {
                        return Err(admin_err(&step, &coordinator, last));
                    }
                }
                None => last = "empty response".into(),
            },
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            return Err(admin_err(
                &step,
                bootstrap,
                format!("after {timeout:?}: {last}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
