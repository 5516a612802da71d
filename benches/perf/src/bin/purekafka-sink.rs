//! The sink broker as its own process, so that its CPU is never counted as the client's.
//!
//! `purekafka-sink [--port P] [--partitions N] [--no-crc] [--hold-produce]` prints
//! `bootstrap=127.0.0.1:P` and then serves until its stdin closes (`--hold-produce`: Produce
//! requests are never answered, for measuring a client's memory with a full queue). Commands on stdin, one per line: `stats` prints the
//! counters as one JSON line; `reset` zeroes them (prints `ok`); `quit` exits.

use std::io::{BufRead, Write};

use purekafka_testkit::sink::{SinkBroker, SinkOptions};

fn main() {
    let mut opts = SinkOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| -> i64 {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => v,
                None => {
                    eprintln!("{name} needs a number");
                    std::process::exit(2);
                }
            }
        };
        match a.as_str() {
            "--port" => opts.port = u16::try_from(val("--port")).unwrap_or(0),
            "--partitions" => opts.partitions = i32::try_from(val("--partitions")).unwrap_or(1),
            "--no-crc" => opts.verify_crc = false,
            "--hold-produce" => opts.hold_produce = true,
            _ => {
                eprintln!(
                    "usage: purekafka-sink [--port P] [--partitions N] [--no-crc] [--hold-produce]"
                );
                std::process::exit(2);
            }
        }
    }
    let sink = match SinkBroker::start(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "bootstrap={}", sink.bootstrap());
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "stats" => {
                let k = sink.counters();
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "connections": k.connections,
                        "requests": k.requests,
                        "produce_requests": k.produce_requests,
                        "batches": k.batches,
                        "records": k.records,
                        "batch_bytes": k.batch_bytes,
                        "crc_failures": k.crc_failures,
                        "unsupported": k.unsupported,
                    })
                );
            }
            "reset" => {
                sink.reset_counters();
                let _ = writeln!(out, "ok");
            }
            "quit" => break,
            _ => {
                let _ = writeln!(out, "error: stats, reset or quit");
            }
        }
        let _ = out.flush();
    }
}
