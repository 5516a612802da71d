#!/usr/bin/env bash
# The issue's full matrix: 100 B and 1 KiB values x keyless / 16-byte keys x acks 1 / all x
# linger 0 / 5 ms x none / lz4 / zstd x 1 / 16 partitions = 96 cells, every client, sink and
# real broker, RUNS runs each (default 3). 1 KiB cells use smaller counts (the broker is the
# bottleneck there). Results: benches/results/<date>-matrix/ (merged results.md with the
# summary table, chart.png, idle.md). About 40 minutes on 2 vCPUs with 3 runs.
#
# Usage: benches/compare/matrix.sh [RUNS] [OUT_DIR]
# Environment: MATRIX_CLIENTS / MATRIX_SINK_CLIENTS replace the client lists (e.g.
# "purekafka:base purekafka:future" for the FutureProducer/BaseProducer ratio alone);
# MATRIX_SCALE multiplies every message count (default 1), for runs long enough to average
# over the scheduler's placement of threads on a shared 2-vCPU machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${1:-3}"
OUT="${2:-$ROOT/benches/results/$(date -u +%Y-%m-%d)-matrix}"
CLIENTS="${MATRIX_CLIENTS:-purekafka:base purekafka:future rdkafka:base rdkafka:future java rskafka}"
# The Java target is about the real broker; ProducerPerformance's own overhead would only
# lengthen the sink runs.
SINK_CLIENTS="${MATRIX_SINK_CLIENTS:-${MATRIX_CLIENTS:-purekafka:base purekafka:future rdkafka:base rdkafka:future rskafka}}"
SCALE="${MATRIX_SCALE:-1}"

cells() { # size label
  local out=""
  for key in none 16; do for acks in 1 all; do for linger in 0 5; do
    for comp in none lz4 zstd; do for p in 1 16; do
      local k=0; [ "$key" = 16 ] && k=16
      out+="${2}_k${k}_a${acks}_l${linger}_${comp}_p${p}=--size $1 --key $key --acks $acks --linger-ms $linger --compression $comp --partitions $p;"
    done; done
  done; done; done
  echo "${out%;}"
}

mkdir -p "$OUT"
"$ROOT/benches/compare/run.sh" --runs "$RUNS" --count $((500000 * SCALE)) --sink-count $((1000000 * SCALE)) --idle-secs 0 \
  --clients "$CLIENTS" --sink-clients "$SINK_CLIENTS" --cells "$(cells 100 100B)" --out "$OUT/100B"
"$ROOT/benches/compare/run.sh" --runs "$RUNS" --count $((200000 * SCALE)) --sink-count $((400000 * SCALE)) --idle-secs 10 \
  --clients "$CLIENTS" --sink-clients "$SINK_CLIENTS" --cells "$(cells 1024 1KiB)" --out "$OUT/1KiB"
cat "$OUT/100B/results.jsonl" "$OUT/1KiB/results.jsonl" >"$OUT/results.jsonl"
cp "$OUT/1KiB/idle.md" "$OUT/1KiB/idle.jsonl" "$OUT/"
cp "$OUT/100B/machine.txt" "$OUT/machine.txt"
"$ROOT/benches/compare/target/release/compare-report" "$OUT/results.jsonl" "$OUT" <"$OUT/machine.txt"
rm -rf "$OUT/100B" "$OUT/1KiB"
echo "wrote $OUT/results.md" >&2
