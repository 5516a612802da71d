#!/usr/bin/env bash
# Side-by-side producer comparison: purekafka (Base/Future), rust-rdkafka 0.39 (Base/Future,
# librdkafka built from its bundled sources), the Java producer (ProducerPerformance) and
# rskafka, against the sink broker and a real Kafka broker, alternating clients within each
# run. Writes benches/results/<date>/{results.jsonl,results.md,chart.png}.
#
# Usage: benches/compare/run.sh [--runs N] [--count N] [--sink-count N]
#          [--targets "sink broker"] [--clients "purekafka:base purekafka:future rdkafka:base rdkafka:future java rskafka"]
#          [--cells "NAME=FLAGS;NAME=FLAGS"] [--idle-secs S] [--sink-clients "..."] [--out DIR]
# A cell's FLAGS are workload flags of purekafka-perf (see `purekafka-perf --help`).
# Client kinds: base, threaded, future (futures awaited in send order, the producer's own
# cost), future-unordered (collected in a FuturesUnordered: plus one task allocation each).
# Java runs kafka-producer-perf-test (ProducerPerformance) with the same value as the Rust
# tools (--payload-file), and java/KeyedProducerPerf.java for keyed cells (the tool has no
# keys). --idle-secs (default 10, 0 = skip) ends with an idle run per Rust client against
# the broker: connected, nothing to send, CPU used over S seconds (idle.md). --sink-clients
# limits the clients run against the sink (default: all of --clients). Pinned for
# every client unless a cell says otherwise: linger.ms 5, batch.size 1000000,
# queue.buffering.max.messages 100000 (Java: buffer.memory 256 MiB), acks 1, idempotence off,
# compression none, 100-byte values, no key, 1 partition.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS=3
COUNT=1000000
SINK_COUNT=""
TARGETS="sink broker"
CLIENTS="purekafka:base purekafka:future rdkafka:base rdkafka:future java rskafka"
CELLS="p1_100B_none_l5=--size 100 --compression none --linger-ms 5 --partitions 1 --acks 1"
OUT="$ROOT/benches/results/$(date -u +%Y-%m-%d)"
IDLE_SECS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --count) COUNT="$2"; shift 2 ;;
    --sink-count) SINK_COUNT="$2"; shift 2 ;;
    --targets) TARGETS="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --cells) CELLS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --idle-secs) IDLE_SECS="$2"; shift 2 ;;
    --sink-clients) SINK_CLIENTS="$2"; shift 2 ;;
    *) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
done
SINK_COUNT="${SINK_COUNT:-$COUNT}"
SINK_CLIENTS="${SINK_CLIENTS:-$CLIENTS}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
LOG="$OUT/run.log"

echo "building (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p purekafka-perf)
(cd "$ROOT/benches/compare" && cargo build --release -q)
PERF="$ROOT/target/release/purekafka-perf"
SINK_BIN="$ROOT/target/release/purekafka-sink"
CMP="$ROOT/benches/compare/target/release"
export PUREKAFKA_SINK_BIN="$SINK_BIN"

# shellcheck source=benches/compare/broker.sh
source "$ROOT/benches/compare/broker.sh"
BROKER_PID=""
SINK_PID=""
cleanup() {
  if [ -n "${JAVA_TOOLS:-}" ]; then rm -rf "$JAVA_TOOLS"; fi
  # Closing a coprocess's stdin stops it (the broker handle stops the JVM on drop).
  if [ -n "$SINK_PID" ]; then exec {SINK[1]}>&- 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; fi
  stop_broker
}
trap cleanup EXIT

if [[ " $TARGETS " == *" broker "* ]]; then
  start_broker "$PERF" "$LOG"
fi
if [[ " $CLIENTS " == *" java "* || " $CLIENTS " == *" rskafka "* ]] && [[ " $TARGETS " == *" sink "* ]]; then
  # One shared sink process for the clients without a --sink option of their own.
  coproc SINK { "$SINK_BIN" --partitions 16; }
  SINK_PID=$!
  read -r line <&"${SINK[0]}"
  SINK_ADDR="${line#bootstrap=}"
fi
JAVA_CP=""
JAVA_TOOLS=""
if [[ " $CLIENTS " == *" java "* ]]; then
  JAVA_CP="$("$PERF" java-classpath)"
  JAVA_TOOLS="$(mktemp -d)"
  javac -d "$JAVA_TOOLS" -cp "$JAVA_CP" "$ROOT/benches/compare/java/KeyedProducerPerf.java"
fi

sink_cmd() { echo "$1" >&"${SINK[1]}"; read -r reply <&"${SINK[0]}"; echo "$reply"; }

# flag value from a cell's flags ("--size 100 ..." → 100)
flag() { local want="$1"; shift; local prev=""; for a in $1; do [ "$prev" = "$want" ] && { echo "$a"; return; }; prev="$a"; done; echo "$2"; }

run_java() { # target cell_name flags bootstrap topic count
  local target="$1" name="$2" flags="$3" bootstrap="$4" topic="$5" count="$6"
  local size acks linger comp batch
  size=$(flag --size "$flags" 100); acks=$(flag --acks "$flags" 1); linger=$(flag --linger-ms "$flags" 5)
  comp=$(flag --compression "$flags" none); batch=$(flag --batch-size "$flags" 1000000)
  local idem=false; [[ " $flags " == *" --idempotence "* ]] && idem=true
  [ "$target" = sink ] && sink_cmd reset >/dev/null
  local tf; tf=$(mktemp)
  local props=(acks="$acks" linger.ms="$linger" batch.size="$batch" compression.type="$comp"
    enable.idempotence="$idem" buffer.memory=268435456 max.request.size=2097152)
  local out
  # The Rust tools' own value, so compressed cells compress alike.
  local payload; payload=$(mktemp)
  "$PERF" payload --size "$size" >"$payload"
  if [ "$(flag --key "$flags" none)" != "none" ]; then
    out=$(/usr/bin/time -f '%e %U %S %M' -o "$tf" java -Xms512m -Xmx512m -cp "$JAVA_CP:$JAVA_TOOLS" \
      KeyedProducerPerf "$bootstrap" "$topic" "$count" "$payload" "${props[@]}" 2>>"$LOG" | tail -1)
  else
    out=$(/usr/bin/time -f '%e %U %S %M' -o "$tf" java -Xms512m -Xmx512m -cp "$JAVA_CP" \
      org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$count" \
      --payload-file "$payload" --throughput -1 --producer-props bootstrap.servers="$bootstrap" \
      "${props[@]}" 2>>"$LOG" | tail -1)
  fi
  rm -f "$payload"
  local sinkstats='null'
  [ "$target" = sink ] && sinkstats=$(sink_cmd stats)
  python3 - "$out" "$(cat "$tf")" "$sinkstats" "$name" "$target" "$size" "$acks" "$linger" "$comp" "$count" <<'PY' >>"$RESULTS"
import json, re, sys
out, tm, sink, name, target, size, acks, linger, comp, count = sys.argv[1:]
m = re.search(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th", out)
el, us, sy, rss = tm.split()[-4:]
d = {"client": "java", "producer": "java", "label": name, "target": target, "size": int(size),
     "acks": acks, "linger_ms": int(linger), "compression": comp, "count": int(count)}
if m:
    n = int(m.group(1)); cpu = float(us) + float(sy)
    d.update(delivered=n, msgs_per_s=float(m.group(2)), mb_per_s=float(m.group(2)) * int(size) / 1e6,
             cpu_s=cpu, cpu_user_s=float(us), cpu_sys_s=float(sy), cpu_s_per_million=cpu / (n / 1e6),
             peak_rss_kib=int(rss), lat_us_p50=int(m.group(6)) * 1000, lat_us_p99=int(m.group(8)) * 1000,
             lat_us_p999=int(m.group(9)) * 1000, lat_us_max=float(m.group(5)) * 1000,
             note="JVM process totals incl. startup/JIT/GC; latency send()->callback, whole ms")
else:
    d.update(delivered=0, error=out[-300:])
d["extra"] = {"target": target}
if sink != "null":
    k = json.loads(sink); d["extra"]["sink"] = k
    if k.get("batches"): d["extra"]["avg_batch_records"] = k["records"] / k["batches"]
print(json.dumps(d))
PY
  rm -f "$tf"
}

# client kind → perf tool flags
producer_flags() {
  case "$1" in
    future) echo "--producer future --await in-order" ;;
    future-unordered) echo "--producer future --await unordered" ;;
    *) echo "--producer $1" ;;
  esac
}

n=0
for run in $(seq 1 "$RUNS"); do
  IFS=';' read -ra cells <<<"$CELLS"
  for cell in "${cells[@]}"; do
    name="${cell%%=*}"; flags="${cell#*=}"
    parts=$(flag --partitions "$flags" 1)
    for target in $TARGETS; do
      if [ "$target" = sink ]; then target_clients="$SINK_CLIENTS"; else target_clients="$CLIENTS"; fi
      for client in $target_clients; do
        n=$((n + 1))
        kind="${client#*:}"; tool="${client%%:*}"
        if [ "$target" = sink ]; then cnt="$SINK_COUNT"; else cnt="$COUNT"; fi
        topic="perf-$(date +%s%N)-$n"
        if [ "$target" = broker ]; then "$PERF" create-topic --bootstrap "$BOOTSTRAP" --topic "$topic" --partitions "$parts" >/dev/null; fi
        echo "run $run  $name  $target  $client  ($cnt msgs)" >&2
        case "$target" in
          sink) tgt=(--sink) ;;
          broker) tgt=(--bootstrap "$BOOTSTRAP" --target broker) ;;
        esac
        # shellcheck disable=SC2086
        case "$tool" in
          purekafka) "$PERF" "${tgt[@]}" --topic "$topic" $flags --count "$cnt" $(producer_flags "$kind") --label "$name" --quiet --json "$RESULTS" >/dev/null 2>>"$LOG" || echo "  failed (see $LOG)" >&2 ;;
          rdkafka) "$CMP/rdkafka-perf" "${tgt[@]}" --topic "$topic" $flags --count "$cnt" $(producer_flags "$kind") --label "$name" --quiet --json "$RESULTS" >/dev/null 2>>"$LOG" || echo "  failed (see $LOG)" >&2 ;;
          rskafka)
            if [ "$target" = sink ]; then b="$SINK_ADDR"; sink_cmd reset >/dev/null; else b="$BOOTSTRAP"; fi
            "$CMP/rskafka-perf" --bootstrap "$b" --topic "$topic" $flags --count "$cnt" --label "$name" --target "$target" --quiet --json "$RESULTS" >/dev/null 2>>"$LOG" || echo "  failed (see $LOG)" >&2 ;;
          java)
            if [ "$target" = sink ]; then b="$SINK_ADDR"; else b="$BOOTSTRAP"; fi
            run_java "$target" "$name" "$flags" "$b" "$topic" "$cnt" ;;
        esac
        if [ "$target" = broker ]; then "$PERF" delete-topic --bootstrap "$BOOTSTRAP" --topic "$topic" >/dev/null 2>>"$LOG" || true; fi
        tail -1 "$RESULTS" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("  %.0f msgs/s  %.3f CPU-s/M  p99 %s us  rss %s KiB" % (d.get("msgs_per_s",0), d.get("cpu_s_per_million",0), d.get("lat_us_p99"), d.get("peak_rss_kib")))' >&2 || true
      done
    done
  done
done

{
  echo "Machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load before report: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rustc: $(rustc --version); java: $(java -version 2>&1 | head -1)"
  echo "Pinned: linger.ms 5, batch.size 1000000, acks 1, enable.idempotence false, compression none unless the cell says otherwise; queue.buffering.max.messages 100000 (Java: buffer.memory 256 MiB, max.request.size 2 MiB, -Xmx512m)."
} >"$OUT/machine.txt"
"$CMP/compare-report" "$RESULTS" "$OUT" <"$OUT/machine.txt"

if [ "$IDLE_SECS" -gt 0 ] && [ -n "$BROKER_PID" ]; then
  IDLE="$OUT/idle.jsonl"
  for client in $CLIENTS; do
    tool="${client%%:*}"; kind="${client#*:}"
    case "$tool" in purekafka) bin="$PERF" ;; rdkafka) bin="$CMP/rdkafka-perf" ;; *) continue ;; esac
    topic="idle-$(date +%s%N)"
    "$PERF" create-topic --bootstrap "$BOOTSTRAP" --topic "$topic" --partitions 1 >/dev/null
    echo "idle  $client  (${IDLE_SECS} s)" >&2
    "$bin" --bootstrap "$BOOTSTRAP" --target broker --topic "$topic" --count 1000 $(producer_flags "$kind") \
      --idle-secs "$IDLE_SECS" --label idle --quiet --json "$IDLE" >/dev/null 2>>"$LOG" || echo "  failed (see $LOG)" >&2
  done
  python3 - "$IDLE" >"$OUT/idle.md" <<'PY'
import json, sys
print("# Idle producers\n")
print("After 1000 messages to the broker and a flush, each producer stays alive, connected and")
print("empty; the process's CPU time and context switches over the idle period are measured.\n")
print("| client | idle s | CPU ms | CPU ms per minute | voluntary ctx switches | involuntary |")
print("|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    d = json.loads(line); i = d["extra"]["idle"]
    print("| %s:%s | %d | %.2f | %.2f | %d | %d |" % (d["client"], d["producer"], i["secs"], i["cpu_ms"], i["cpu_ms"] * 60 / i["secs"], i["vol_ctxt"], i["invol_ctxt"]))
PY
  echo "wrote $OUT/idle.md" >&2
fi
echo "wrote $OUT/results.md and $OUT/chart.png" >&2
