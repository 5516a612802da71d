//! Running Java tools from the same jars as the test broker: the reference consumer as an
//! independent reader of what purekafka wrote, `DumpLogSegments`, and any other Kafka tool.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::broker::{BrokerError, KafkaRuntime, io_err, java_base, kafka_runtime, tail_of};

/// One record as the reference Java consumer (kafka-clients 4.1.2) saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Partition index.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// `"CreateTime"`, `"LogAppendTime"` or `"NoTimestampType"`.
    pub timestamp_type: String,
    /// Timestamp in milliseconds.
    pub timestamp: i64,
    /// Leader epoch of the batch, when the consumer reports one.
    pub leader_epoch: Option<i32>,
    /// Key bytes; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` for a null value (tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers in order; a `None` value is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Transaction isolation for [`read_topic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Only committed transactional records (up to the last stable offset).
    ReadCommitted,
    /// Everything, including open and aborted transactions.
    ReadUncommitted,
}

/// When [`read_topic`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadUntil {
    /// Up to the end offsets (LSO for read_committed) seen when the reader starts.
    End,
    /// Until this many records arrived (waiting for more to be produced).
    Count(usize),
}

/// Options for [`read_topic`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Isolation level (default read_committed, like a careful downstream consumer).
    pub isolation: Isolation,
    /// Stop condition (default [`ReadUntil::End`]).
    pub until: ReadUntil,
    /// Give up after this long (default 60 s); the JVM start is included.
    pub timeout: Duration,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            isolation: Isolation::ReadCommitted,
            until: ReadUntil::End,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Output of a Java tool run.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

/// Reads every partition of `topic` from the beginning with the reference Java consumer (no
/// consumer group) and returns the records in partition, then offset order.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    opts: &ReadOptions,
) -> Result<Vec<ConsumedRecord>, BrokerError> {
    let rt = kafka_runtime()?;
    let isolation = match opts.isolation {
        Isolation::ReadCommitted => "read_committed",
        Isolation::ReadUncommitted => "read_uncommitted",
    };
    let count = match opts.until {
        ReadUntil::End => "-1".to_owned(),
        ReadUntil::Count(n) => n.to_string(),
    };
    let args = [
        bootstrap.to_owned(),
        topic.to_owned(),
        isolation.to_owned(),
        count,
        opts.timeout.as_millis().to_string(),
    ];
    // The reader enforces the timeout itself; the extra margin covers JVM start and exit.
    let out = run_java(
        &rt,
        &rt.tools_classpath(),
        "ReadTopic",
        &args,
        opts.timeout + Duration::from_secs(30),
    )?;
    let mut records = Vec::new();
    for (i, line) in out
        .stdout
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        records.push(parse_record(line).map_err(|e| BrokerError::Tool {
            tool: "ReadTopic".into(),
            detail: format!("unparseable line {}: {e}: {line}", i + 1),
        })?);
    }
    if !out.status.success() {
        return Err(BrokerError::Tool {
            tool: format!("ReadTopic {topic}"),
            detail: format!(
                "{} after {} records\n{}",
                out.status,
                records.len(),
                tail_of(&out.stderr, 30)
            ),
        });
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}

/// Runs `kafka.tools.DumpLogSegments --files <file>` (with `--deep-iteration` and
/// `--print-data-log` if asked) and returns its stdout.
pub fn dump_log_segments(file: &Path, deep: bool, print_data: bool) -> Result<String, BrokerError> {
    let mut args = vec!["--files".to_owned(), file.display().to_string()];
    if deep {
        args.push("--deep-iteration".into());
    }
    if print_data {
        args.push("--print-data-log".into());
    }
    let out = run_tool(
        "kafka.tools.DumpLogSegments",
        &args,
        Duration::from_secs(120),
    )?;
    if !out.status.success() {
        return Err(BrokerError::Tool {
            tool: "DumpLogSegments".into(),
            detail: format!("{}\n{}", out.status, tail_of(&out.stderr, 30)),
        });
    }
    Ok(out.stdout)
}

/// Runs any Kafka tool main class (e.g. `org.apache.kafka.tools.GetOffsetShell`,
/// `org.apache.kafka.tools.TransactionsCommand`, `org.apache.kafka.tools.consumer.ConsoleConsumer`)
/// with `args`, killing it after `timeout`. A non-zero exit is returned, not an error.
/// `main_class` may also be the path of a single-file Java program (`Foo.java`), which `java`
/// compiles and runs (source launcher) with the Kafka jars on the class path.
pub fn run_tool(
    main_class: &str,
    args: &[String],
    timeout: Duration,
) -> Result<ToolOutput, BrokerError> {
    let rt = kafka_runtime()?;
    run_java(&rt, &rt.tools_classpath(), main_class, args, timeout)
}

fn run_java(
    rt: &KafkaRuntime,
    classpath: &str,
    main_class: &str,
    args: &[String],
    timeout: Duration,
) -> Result<ToolOutput, BrokerError> {
    let tool_err = |detail: String| BrokerError::Tool {
        tool: main_class.to_owned(),
        detail,
    };
    // Files, not pipes: no reader threads, and a chatty tool can never block on a full pipe.
    let mut stdout =
        tempfile::tempfile().map_err(|e| io_err("creating a temp file", Path::new("stdout"), e))?;
    let mut stderr =
        tempfile::tempfile().map_err(|e| io_err("creating a temp file", Path::new("stderr"), e))?;
    let mut cmd: Command = java_base(classpath.to_owned());
    cmd.arg(format!(
        "-Dlog4j2.configurationFile={}",
        rt.tools_log4j().display()
    ))
    .arg(main_class)
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::from(
        stdout.try_clone().map_err(|e| tool_err(e.to_string()))?,
    ))
    .stderr(Stdio::from(
        stderr.try_clone().map_err(|e| tool_err(e.to_string()))?,
    ));
    let mut child = cmd
        .spawn()
        .map_err(|e| tool_err(format!("starting java: {e}")))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| tool_err(e.to_string()))? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(tool_err(format!(
                "killed after {timeout:?}\nstderr:\n{}",
                tail_of(&read_all(&mut stderr), 30)
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(ToolOutput {
        status,
        stdout: read_all(&mut stdout),
        stderr: read_all(&mut stderr),
    })
}

/// One active producer of a partition, as `TransactionsCommand describe-producers` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    /// Producer id.
    pub producer_id: i64,
    /// Its latest epoch on this partition.
    pub producer_epoch: i32,
    /// Epoch of the coordinator that wrote its last marker (-1: none yet).
    pub coordinator_epoch: i32,
    /// Last sequence number written.
    pub last_sequence: i32,
    /// Timestamp of its last write (ms).
    pub last_timestamp: i64,
    /// First offset of its open transaction on this partition; `None` when no transaction is
    /// open (every transaction it wrote here has its marker).
    pub current_txn_start_offset: Option<i64>,
}

/// One hanging transaction, as `TransactionsCommand find-hanging` prints it: an open transaction
/// on a partition that its coordinator does not know of (or no longer includes the partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HangingTransaction {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Producer id of the open transaction.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i32,
    /// Coordinator epoch (-1 if none).
    pub coordinator_epoch: i32,
    /// First offset of the open transaction.
    pub start_offset: i64,
    /// Timestamp of the producer's last write (ms).
    pub last_timestamp: i64,
    /// How long it has been open, in whole minutes.
    pub duration_min: i64,
}

/// What [`find_hanging`] searches (the tool needs one of the two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangingScope<'a> {
    /// Every partition with a replica on this broker.
    Broker(i32),
    /// Every partition of this topic.
    Topic(&'a str),
}

const TRANSACTIONS_COMMAND: &str = "org.apache.kafka.tools.TransactionsCommand";

/// Runs `TransactionsCommand --bootstrap-server <bootstrap> <args>` and returns the rows of the
/// table it prints (cells trimmed), after checking its header is `headers`.
fn transactions_table(
    bootstrap: &str,
    args: &[String],
    headers: &[&str],
) -> Result<Vec<Vec<String>>, BrokerError> {
    let mut all = vec!["--bootstrap-server".to_owned(), bootstrap.to_owned()];
    all.extend_from_slice(args);
    let out = run_tool(TRANSACTIONS_COMMAND, &all, Duration::from_secs(120))?;
    let tool = || format!("TransactionsCommand {}", args.join(" "));
    if !out.status.success() {
        return Err(BrokerError::Tool {
            tool: tool(),
            detail: format!(
                "{}\n{}{}",
                out.status,
                tail_of(&out.stdout, 10),
                tail_of(&out.stderr, 20)
            ),
        });
    }
    parse_table(&out.stdout, headers).map_err(|detail| BrokerError::Tool {
        tool: tool(),
        detail,
    })
}

/// Splits the tool's tab-separated, space-padded table into trimmed cells; the first line must
/// be the `headers`.
fn parse_table(stdout: &str, headers: &[&str]) -> Result<Vec<Vec<String>>, String> {
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let split = |l: &str| -> Vec<String> {
        l.trim_end_matches('\t')
            .split('\t')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let head = lines.next().ok_or("no output")?;
    if split(head) != headers {
        return Err(format!("unexpected header {head:?}\n{stdout}"));
    }
    let rows: Vec<Vec<String>> = lines.map(split).collect();
    if let Some(bad) = rows.iter().find(|r| r.len() != headers.len()) {
        return Err(format!("row with {} cells: {bad:?}\n{stdout}", bad.len()));
    }
    Ok(rows)
}

fn cell<T: std::str::FromStr>(row: &[String], i: usize) -> Result<T, String> {
    row[i]
        .parse()
        .map_err(|_| format!("cell {i} {:?} of {row:?} does not parse", row[i]))
}

/// The active producers of `topic`/`partition` (`TransactionsCommand describe-producers`), from
/// the leader or, with `broker_id`, from that replica.
pub fn describe_producers(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    broker_id: Option<i32>,
) -> Result<Vec<ProducerState>, BrokerError> {
    let mut args = vec![
        "describe-producers".to_owned(),
        "--topic".to_owned(),
        topic.to_owned(),
        "--partition".to_owned(),
        partition.to_string(),
    ];
    if let Some(b) = broker_id {
        args.extend(["--broker-id".to_owned(), b.to_string()]);
    }
    let rows = transactions_table(
        bootstrap,
        &args,
        &[
            "ProducerId",
            "ProducerEpoch",
            "LatestCoordinatorEpoch",
            "LastSequence",
            "LastTimestamp",
            "CurrentTransactionStartOffset",
        ],
    )?;
    rows.iter()
        .map(|r| {
            Ok(ProducerState {
                producer_id: cell(r, 0)?,
                producer_epoch: cell(r, 1)?,
                coordinator_epoch: cell(r, 2)?,
                last_sequence: cell(r, 3)?,
                last_timestamp: cell(r, 4)?,
                current_txn_start_offset: match r[5].as_str() {
                    "None" => None,
                    _ => Some(cell(r, 5)?),
                },
            })
        })
        .collect::<Result<_, String>>()
        .map_err(|detail| BrokerError::Tool {
            tool: "TransactionsCommand describe-producers".into(),
            detail,
        })
}

/// Hanging transactions in `scope` (`TransactionsCommand find-hanging`): open transactions older
/// than `max_transaction_timeout_min` minutes whose coordinator does not know of them. With 0
/// every open transaction is examined, which is what a test that has finished all its
/// transactions wants.
pub fn find_hanging(
    bootstrap: &str,
    scope: HangingScope<'_>,
    max_transaction_timeout_min: u32,
) -> Result<Vec<HangingTransaction>, BrokerError> {
    let mut args = vec![
        "find-hanging".to_owned(),
        "--max-transaction-timeout".to_owned(),
        max_transaction_timeout_min.to_string(),
    ];
    match scope {
        HangingScope::Broker(id) => args.extend(["--broker-id".to_owned(), id.to_string()]),
        HangingScope::Topic(t) => args.extend(["--topic".to_owned(), t.to_owned()]),
    }
    let rows = transactions_table(
        bootstrap,
        &args,
        &[
            "Topic",
            "Partition",
            "ProducerId",
            "ProducerEpoch",
            "CoordinatorEpoch",
            "StartOffset",
            "LastTimestamp",
            "Duration(min)",
        ],
    )?;
    rows.iter()
        .map(|r| {
            Ok(HangingTransaction {
                topic: r[0].clone(),
                partition: cell(r, 1)?,
                producer_id: cell(r, 2)?,
                producer_epoch: cell(r, 3)?,
                coordinator_epoch: cell(r, 4)?,
                start_offset: cell(r, 5)?,
                last_timestamp: cell(r, 6)?,
                duration_min: cell(r, 7)?,
            })
        })
        .collect::<Result<_, String>>()
        .map_err(|detail| BrokerError::Tool {
            tool: "TransactionsCommand find-hanging".into(),
            detail,
        })
}

/// [`find_hanging`] on every broker of `broker_ids` (the tool searches one broker at a time).
pub fn find_hanging_on_brokers(
    bootstrap: &str,
    broker_ids: &[i32],
    max_transaction_timeout_min: u32,
) -> Result<Vec<HangingTransaction>, BrokerError> {
    let mut all = Vec::new();
    for &id in broker_ids {
        all.extend(find_hanging(
            bootstrap,
            HangingScope::Broker(id),
            max_transaction_timeout_min,
        )?);
    }
    Ok(all)
}

fn read_all(f: &mut File) -> String {
    let mut buf = Vec::new();
    let _ = f
        .seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_end(&mut buf));
    String::from_utf8_lossy(&buf).into_owned()
}

fn parse_record(line: &str) -> Result<ConsumedRecord, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let int = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| format!("missing {k}"))
    };
    let bytes = |x: Option<&serde_json::Value>| -> Result<Option<Vec<u8>>, String> {
        match x {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => unhex(s).map(Some),
            Some(other) => Err(format!("expected hex or null, got {other}")),
        }
    };
    let mut headers = Vec::new();
    for h in v
        .get("headers")
        .and_then(serde_json::Value::as_array)
        .ok_or("missing headers")?
    {
        let pair = h
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or("header is not a pair")?;
        let key = bytes(pair.first())?.ok_or("null header key")?;
        let key = String::from_utf8(key).map_err(|e| e.to_string())?;
        headers.push((key, bytes(pair.get(1))?));
    }
    Ok(ConsumedRecord {
        partition: i32::try_from(int("partition")?).map_err(|e| e.to_string())?,
        offset: int("offset")?,
        timestamp_type: v
            .get("timestamp_type")
            .and_then(serde_json::Value::as_str)
            .ok_or("missing timestamp_type")?
            .to_owned(),
        timestamp: int("timestamp")?,
        leader_epoch: v
            .get("leader_epoch")
            .and_then(serde_json::Value::as_i64)
            .and_then(|e| i32::try_from(e).ok()),
        key: bytes(v.get("key"))?,
        value: bytes(v.get("value"))?,
        headers,
    })
}

/// Decodes lowercase or uppercase hex.
pub fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex {s:?}"));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("bad hex digit {:?}", char::from(c))),
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_a_reader_line_with_nulls_and_binary() {
        let line = r#"{"partition":2,"offset":7,"timestamp_type":"CreateTime","timestamp":1700000000000,"leader_epoch":0,"key":"00ff","value":null,"headers":[["6869",""],["6e",null]]}"#;
        let r = parse_record(line).unwrap();
        assert_eq!(r.partition, 2);
        assert_eq!(r.offset, 7);
        assert_eq!(r.key, Some(vec![0x00, 0xff]));
        assert_eq!(r.value, None);
        assert_eq!(
            r.headers,
            vec![("hi".to_owned(), Some(vec![])), ("n".to_owned(), None)]
        );
        assert_eq!(r.leader_epoch, Some(0));
    }

    #[test]
    fn parses_the_transactions_command_tables() {
        let out = "ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset\t\n\
                   7         \t3            \t-1                    \t4           \t1700000000000\tNone                         \t\n\
                   9         \t0            \t2                     \t0           \t1700000000001\t42                           \t\n";
        let rows = parse_table(
            out,
            &[
                "ProducerId",
                "ProducerEpoch",
                "LatestCoordinatorEpoch",
                "LastSequence",
                "LastTimestamp",
                "CurrentTransactionStartOffset",
            ],
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][5], "None");
        assert_eq!(rows[1][5], "42");
        assert_eq!(cell::<i64>(&rows[1], 0).unwrap(), 9);
        // A different header is refused rather than misread.
        assert!(parse_table(out, &["Topic"]).is_err());
        // An empty table (header only) has no rows.
        let empty = "Topic\tPartition\t\n";
        assert!(
            parse_table(empty, &["Topic", "Partition"])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rejects_malformed_hex() {
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
        assert_eq!(unhex("").unwrap(), Vec::<u8>::new());
    }
}
