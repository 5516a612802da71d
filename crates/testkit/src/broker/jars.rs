//! Resolving the Kafka jars (Maven, cached outside the checkout) and compiling the testkit's own
//! Java helpers against them.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use super::{BrokerError, KAFKA_VERSION, io_err, lock_exclusive, tail_of};

/// The pom, embedded so that a pom change gives a new cache directory (the jars are keyed by it).
const POM: &str = include_str!("../../kafka/pom.xml");

/// The Java helpers the testkit compiles once per cache (file name, source).
const JAVA_SOURCES: &[(&str, &str)] =
    &[("ReadTopic.java", include_str!("../../kafka/ReadTopic.java"))];

/// Name of the tools' log4j2 config inside [`KafkaRuntime::classes`].
pub(crate) const TOOLS_LOG4J_FILE: &str = "tools-log4j2.properties";

/// Tools log warnings to stderr only, so their stdout stays parseable.
const TOOLS_LOG4J: &str = "\
status = error
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
";

/// Where the jars and compiled helpers live: `libs/*` is the broker and tool class path, `classes`
/// holds the testkit's own compiled Java helpers.
#[derive(Debug, Clone)]
pub struct KafkaRuntime {
    /// Directory holding the resolved jars.
    pub libs: PathBuf,
    /// Directory holding the compiled testkit Java helpers (`ReadTopic`).
    pub classes: PathBuf,
    /// Seconds spent resolving and compiling in this process (0 when everything was cached).
    pub resolve_secs: f64,
}

impl KafkaRuntime {
    /// Class path with the Kafka jars only (`<libs>/*`).
    pub fn libs_classpath(&self) -> String {
        format!("{}/*", self.libs.display())
    }

    /// Class path with the testkit helpers and the Kafka jars.
    pub fn tools_classpath(&self) -> String {
        format!("{}:{}/*", self.classes.display(), self.libs.display())
    }

    /// The log4j2 config for tools: WARN and above on stderr.
    pub fn tools_log4j(&self) -> PathBuf {
        self.classes.join(TOOLS_LOG4J_FILE)
    }
}

static RUNTIME: Mutex<Option<KafkaRuntime>> = Mutex::new(None);

/// The cache root: `$PUREKAFKA_CACHE_DIR`, else `$XDG_CACHE_HOME/purekafka`, else
/// `$HOME/.cache/purekafka`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PUREKAFKA_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("purekafka");
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("purekafka")
}

/// Returns the Kafka jars and compiled helpers, resolving them with Maven on first use.
///
/// Already cached jars never invoke `mvn` (so warm runs work offline). Resolution downloads into a
/// temporary directory and renames it into place under an exclusive file lock, so parallel test
/// binaries neither race nor see a half-filled directory.
pub fn kafka_runtime() -> Result<KafkaRuntime, BrokerError> {
    let mut cached = RUNTIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(rt) = cached.as_ref() {
        return Ok(rt.clone());
    }
    let rt = resolve()?;
    *cached = Some(rt.clone());
    Ok(rt)
}

fn resolve() -> Result<KafkaRuntime, BrokerError> {
    let started = Instant::now();
    let base = cache_root().join(format!("kafka-{KAFKA_VERSION}"));
    let pom_hash = fnv64(POM.as_bytes());
    let libs = base.join(format!("libs-{pom_hash:016x}"));
    let mut src_hash_input = pom_hash.to_le_bytes().to_vec();
    src_hash_input.extend_from_slice(TOOLS_LOG4J.as_bytes());
    for (name, src) in JAVA_SOURCES {
        src_hash_input.extend_from_slice(name.as_bytes());
        src_hash_input.extend_from_slice(src.as_bytes());
    }
    let classes = base.join(format!("classes-{:016x}", fnv64(&src_hash_input)));
    if libs.is_dir() && classes.is_dir() {
        return Ok(KafkaRuntime {
            libs,
            classes,
            resolve_secs: 0.0,
        });
    }
    fs::create_dir_all(&base).map_err(|e| io_err("creating the jar cache directory", &base, e))?;
    let lock_path = base.join(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_err("opening the jar cache lock", &lock_path, e))?;
    lock_exclusive(&lock, &lock_path)?;
    if !libs.is_dir() {
        download(&base, &libs, pom_hash)?;
    }
    if !classes.is_dir() {
        compile(&base, &libs, &classes)?;
    }
    drop(lock);
    Ok(KafkaRuntime {
        libs,
        classes,
        resolve_secs: started.elapsed().as_secs_f64(),
    })
}

fn download(base: &Path, libs: &Path, pom_hash: u64) -> Result<(), BrokerError> {
    let tmp = tempfile::Builder::new()
        .prefix(".libs-tmp-")
        .tempdir_in(base)
        .map_err(|e| io_err("creating a temporary jar directory", base, e))?;
    let pom = tmp.path().join(format!("pom-{pom_hash:016x}.xml"));
    fs::write(&pom, POM).map_err(|e| io_err("writing the pom", &pom, e))?;
    let out_dir = tmp.path().join("libs");
    let mut cmd = Command::new("mvn");
    cmd.arg("-B")
        .arg("-q")
        .arg("-f")
        .arg(&pom)
        .arg("org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies")
        .arg("-DincludeScope=runtime")
        .arg(format!("-DoutputDirectory={}", out_dir.display()));
    let out = cmd.output().map_err(|e| BrokerError::Tool {
        tool: "mvn (is Maven installed? apt-get install maven)".into(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(BrokerError::Tool {
            tool: "mvn copy-dependencies".into(),
            detail: format!(
                "{}\n{}{}",
                out.status,
                tail_of(&String::from_utf8_lossy(&out.stdout), 30),
                tail_of(&String::from_utf8_lossy(&out.stderr), 30)
            ),
        });
    }
    let jars = fs::read_dir(&out_dir)
        .map_err(|e| io_err("listing the jars", &out_dir, e))?
        .count();
    if jars == 0 {
        return Err(BrokerError::Tool {
            tool: "mvn copy-dependencies".into(),
            detail: "no jars".into(),
        });
    }
    fs::rename(&out_dir, libs).map_err(|e| io_err("moving the jars into the cache", libs, e))?;
    Ok(())
}

fn compile(base: &Path, libs: &Path, classes: &Path) -> Result<(), BrokerError> {
    let tmp = tempfile::Builder::new()
        .prefix(".classes-tmp-")
        .tempdir_in(base)
        .map_err(|e| io_err("creating a temporary class directory", base, e))?;
    let src_dir = tmp.path().join("src");
    let out_dir = tmp.path().join("classes");
    fs::create_dir_all(&src_dir)
        .map_err(|e| io_err("creating the source directory", &src_dir, e))?;
    // javac run as a module of `java`, not the `javac` launcher: Debian's JRE packages ship the
    // jdk.compiler module (which the single-file source launcher needs too) but no `javac`
    // binary. Only the launcher expands `dir/*` class paths, so the jars are listed one by one.
    let mut jars: Vec<PathBuf> = fs::read_dir(libs)
        .map_err(|e| io_err("listing the jars", libs, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jar"))
        .collect();
    jars.sort();
    let classpath = std::env::join_paths(&jars)
        .map_err(|e| io_err("building the class path", libs, io::Error::other(e)))?;
    let mut cmd = Command::new("java");
    cmd.arg("-m")
        .arg("jdk.compiler/com.sun.tools.javac.Main")
        .arg("-nowarn")
        .arg("-cp")
        .arg(classpath)
        .arg("-d")
        .arg(&out_dir);
    for (name, src) in JAVA_SOURCES {
        let path = src_dir.join(name);
        fs::write(&path, src).map_err(|e| io_err("writing a Java helper", &path, e))?;
        cmd.arg(&path);
    }
    let out = cmd.output().map_err(|e| BrokerError::Tool {
        tool:
            "java -m jdk.compiler (is Java 17+ installed? apt-get install openjdk-17-jdk-headless)"
                .into(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(BrokerError::Tool {
            tool: "javac (java -m jdk.compiler)".into(),
            detail: format!(
                "{}\n{}",
                out.status,
                tail_of(&String::from_utf8_lossy(&out.stderr), 40)
            ),
        });
    }
    let log4j = out_dir.join(TOOLS_LOG4J_FILE);
    fs::write(&log4j, TOOLS_LOG4J)
        .map_err(|e| io_err("writing the tools' log4j config", &log4j, e))?;
    fs::rename(&out_dir, classes)
        .map_err(|e| io_err("moving the classes into the cache", classes, e))?;
    Ok(())
}

/// FNV-1a, 64 bit: a stable content key for cache directory names (not for security).
fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
