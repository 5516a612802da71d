#!/usr/bin/env bash
# Memory per queued record: purekafka and librdkafka (rdkafka crate) with the same full queue.
#
# The matrix's peak RSS depends on how full each client's queue got, which depends on how far
# the client outran the sink or broker (the faster client fills `queue.buffering.max.messages`
# more often). Here both queues hold exactly the same records: a sink started with
# --hold-produce takes every Produce request and never answers, so all QUEUE records of a run
# stay in flight until `message.timeout.ms` fails them. Each client also runs with one record
# (its baseline RSS); (full - baseline) / QUEUE is the memory per queued record.
#
# Usage: benches/compare/queued-memory.sh [RUNS] [OUT_FILE]   (default 3 runs; prints the
# markdown table and, with OUT_FILE, writes it there with the raw JSON lines beside it)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${1:-3}"
OUT="${2:-}"
QUEUE=100000

(cd "$ROOT" && cargo build --release -q -p purekafka-perf)
(cd "$ROOT/benches/compare" && cargo build --release -q -p rdkafka-perf)
PK="$ROOT/target/release/purekafka-perf"
RD="$ROOT/benches/compare/target/release/rdkafka-perf"

coproc SINK { "$ROOT/target/release/purekafka-sink" --hold-produce; }
SINK_PID=$!
trap 'exec {SINK[1]}>&- 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true' EXIT
read -r line <&"${SINK[0]}"
BOOTSTRAP="${line#bootstrap=}"

RAW="$(mktemp)"
for size in 100 1024; do
  for comp in none lz4; do
    for producer in base future; do
      for run in $(seq "$RUNS"); do
        for client in purekafka rdkafka; do
          bin="$PK"; [ "$client" = rdkafka ] && bin="$RD"
          for count in 1 "$QUEUE"; do
            "$bin" --bootstrap "$BOOTSTRAP" --count "$count" --queue-max "$QUEUE" --size "$size" \
              --compression "$comp" --producer "$producer" --await in-order --quiet \
              --label "${size}B_${comp}_${producer}" -X message.timeout.ms=2000 \
              | grep '^{' >>"$RAW"
          done
        done
      done
    done
  done
done

TABLE="$(python3 - "$RAW" "$QUEUE" "$RUNS" <<'PY'
import json, statistics, sys
raw, queue, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [json.loads(l) for l in open(raw)]
cells = {}
for r in rows:
    assert r["failed"] == r["count"], f"a record was answered: {r}"
    cells.setdefault((r["label"], r["client"], r["count"]), []).append(r["peak_rss_kib"])
print(f"Peak RSS with {queue} records held in flight (sink --hold-produce), median of {runs} runs; "
      "baseline = the same run with 1 record. Bytes per record = (full - baseline) / records.\n")
print("| workload | client | baseline MiB | full queue MiB | bytes per queued record | x purekafka |")
print("|---|---|---|---|---|---|")
for label in sorted({k[0] for k in cells}, key=lambda l: (int(l.split("B_")[0]), l)):
    per = {}
    for client in ("purekafka", "rdkafka"):
        base = statistics.median(cells[(label, client, 1)])
        full = statistics.median(cells[(label, client, queue)])
        per[client] = (base, full, (full - base) * 1024 / queue)
    for client in ("purekafka", "rdkafka"):
        base, full, b = per[client]
        print(f"| {label} | {client} | {base/1024:.1f} | {full/1024:.1f} | {b:.0f} | "
              f"{b / per['purekafka'][2]:.2f} |")
PY
)"
echo "$TABLE"
if [ -n "$OUT" ]; then
  mkdir -p "$(dirname "$OUT")"
  echo "$TABLE" >"$OUT"
  cp "$RAW" "${OUT%.md}.jsonl"
fi
rm -f "$RAW"
