#!/usr/bin/env bash
# The issue's latency target: p99 at 50 % of the maximum load, at most linger + 2 ms and not
# above librdkafka's. Per cell and target (sink, real broker): each client's maximum is measured
# closed loop (RUNS alternating runs, median); then open loop (`--rate`, latency from each
# record's intended send time, so a stalled producer cannot hide its backlog) every client
# runs at half its own maximum, and all clients at one shared rate, half the lowest maximum
# (the same load for everyone). RUNS alternating runs each, LAT_SECS seconds per run, each
# after a warm-up (`--warmup`), with the broker round trip from the clients' own statistics.
# Writes OUT/latency.jsonl and OUT/latency.md. About 15 minutes with the defaults.
#
# Usage: benches/compare/latency.sh [RUNS] [OUT_DIR]
# Environment: LAT_CLIENTS (default "purekafka:base rdkafka:base"; add purekafka:future,
# rdkafka:future), LAT_TARGETS (default "sink broker"), LAT_SECS (default 3), LAT_CELLS (lines
# of NAME=FLAGS, replacing the cells below).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${1:-3}"
OUT="${2:-$ROOT/benches/results/$(date -u +%Y-%m-%d)-latency}"
CLIENTS="${LAT_CLIENTS:-purekafka:base rdkafka:base}"
TARGETS="${LAT_TARGETS:-sink broker}"
SECS="${LAT_SECS:-3}"
# Linger 5 (the defaults of both clients) and linger 0; one and sixteen partitions; both
# value sizes; compressed and acks=all variants.
CELLS="${LAT_CELLS:-100B_k0_a1_l5_none_p1=--size 100 --acks 1 --linger-ms 5 --compression none --partitions 1
100B_k16_aall_l5_lz4_p16=--size 100 --key 16 --acks all --linger-ms 5 --compression lz4 --partitions 16
100B_k0_a1_l0_none_p1=--size 100 --acks 1 --linger-ms 0 --compression none --partitions 1
100B_k16_a1_l0_none_p16=--size 100 --key 16 --acks 1 --linger-ms 0 --compression none --partitions 16
1KiB_k0_aall_l5_zstd_p16=--size 1024 --acks all --linger-ms 5 --compression zstd --partitions 16}"

mkdir -p "$OUT"
RESULTS="$OUT/latency.jsonl"
LOG="$OUT/run.log"
: >"$RESULTS"
echo "building (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p purekafka-perf)
(cd "$ROOT/benches/compare" && cargo build --release -q -p rdkafka-perf)
PERF="$ROOT/target/release/purekafka-perf"
export PUREKAFKA_SINK_BIN="$ROOT/target/release/purekafka-sink"

# shellcheck source=benches/compare/broker.sh
source "$ROOT/benches/compare/broker.sh"
BROKER_PID=""
trap stop_broker EXIT
if [[ " $TARGETS " == *" broker "* ]]; then
  start_broker "$PERF" "$LOG"
fi

bin_of() { case "${1%%:*}" in purekafka) echo "$PERF" ;; rdkafka) echo "$ROOT/benches/compare/target/release/rdkafka-perf" ;; esac; }
kind_flags() { case "${1#*:}" in future) echo "--producer future --await in-order" ;; *) echo "--producer ${1#*:}" ;; esac; }
flag() { local want="$1" prev=""; for a in $2; do [ "$prev" = "$want" ] && { echo "$a"; return; }; prev="$a"; done; echo "$3"; }

n=0
one_run() { # phase client target cell_name flags count rate
  local phase="$1" client="$2" target="$3" name="$4" flags="$5" count="$6" rate="$7" topic tgt
  n=$((n + 1)); topic="lat-$(date +%s%N)-$n"
  if [ "$target" = sink ]; then tgt=(--sink); else
    tgt=(--bootstrap "$BOOTSTRAP" --target broker)
    local parts; parts=$(flag --partitions "$flags" 1)
    "$PERF" create-topic --bootstrap "$BOOTSTRAP" --topic "$topic" --partitions "$parts" >/dev/null
    # A new topic's partitions become writable over the next few hundred ms (the broker
    # learns them from the controller's log): without a warm-up the first records of a run
    # waited for retries and metadata refreshes, whichever client sent them.
    "$PERF" --bootstrap "$BOOTSTRAP" --topic "$topic" --partitions "$parts" --key 16 --count 2000 --quiet >/dev/null 2>>"$LOG" || true
  fi
  # --warmup: connections and metadata are set up before the clock starts. Cold, each run's
  # first requests took 60-100 ms at the broker (both clients; a new connection's first
  # requests while the sending thread keeps a CPU busy), 3 % of a 3 s run's records.
  local line stats=(--warmup)
  # Open loop: each client's own statistics give the broker's round trips (request written
  # to response read), the part of the latency no client controls.
  [ "$rate" -gt 0 ] && stats+=(--stats-ms 500)
  # shellcheck disable=SC2086
  line=$("$(bin_of "$client")" "${tgt[@]}" --topic "$topic" $flags --count "$count" --rate "$rate" \
    "${stats[@]}" $(kind_flags "$client") --label "$name" --quiet 2>>"$LOG" | grep '^{' | tail -1) || line=""
  if [ "$target" = broker ]; then
    "$PERF" delete-topic --bootstrap "$BOOTSTRAP" --topic "$topic" >/dev/null 2>>"$LOG" || true
    # The broker removes the topic's files a second later (file.delete.delay.ms); let that
    # happen before the next run rather than during it.
    sleep 3
  fi
  if [ -z "$line" ]; then echo "  $phase $client failed (see $LOG)" >&2; echo 0; return; fi
  echo "$line" | jq -c --arg phase "$phase" --arg client "$client" --arg target "$target" --argjson rate "$rate" \
    '{phase: $phase, client: $client, target: $target, label: .label, rate: $rate, linger_ms: .linger_ms, msgs_per_s: .msgs_per_s,
      p50_us: .lat_us_p50, p99_us: .lat_us_p99, p999_us: .lat_us_p999, max_us: .lat_us_max,
      cpu_s_per_million: .cpu_s_per_million, records_per_batch: .extra.avg_batch_records,
      rtt_avg_us: .broker_rtt.avg_us, rtt_p99_us: .broker_rtt.p99_us_median, peak_rss_kib: .peak_rss_kib}' >>"$RESULTS"
  echo "  $phase $client rate $rate: $(echo "$line" | jq -r '"\(.msgs_per_s | floor) msgs/s p99 \(.lat_us_p99) us"')" >&2
  echo "$line" | jq -r '.msgs_per_s | floor'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

while IFS= read -r cell; do
  name="${cell%%=*}"; flags="${cell#*=}"
  size=$(flag --size "$flags" 100)
  for target in $TARGETS; do
    echo "$name  $target" >&2
    # Closed loop: each client's maximum (record counts as in matrix.sh).
    max_count=$([ "$size" -gt 100 ] && echo 400000 || echo 1000000)
    declare -A runs=()
    for _ in $(seq 1 "$RUNS"); do
      for c in $CLIENTS; do runs[$c]+=" $(one_run max "$c" "$target" "$name" "$flags" "$max_count" 0)"; done
    done
    declare -A half=()
    shared=""
    for c in $CLIENTS; do
      half[$c]=$(( $(echo "${runs[$c]}" | median) / 2 ))
      if [ -z "$shared" ] || [ "${half[$c]}" -lt "$shared" ]; then shared="${half[$c]}"; fi
    done
    # Open loop at half of each client's own maximum, then everyone at the shared rate.
    for _ in $(seq 1 "$RUNS"); do
      for c in $CLIENTS; do
        r="${half[$c]}"; [ "$r" -gt 0 ] && one_run own "$c" "$target" "$name" "$flags" $((r * SECS)) "$r" >/dev/null
        [ "$shared" -gt 0 ] && one_run shared "$c" "$target" "$name" "$flags" $((shared * SECS)) "$shared" >/dev/null
      done
    done
    unset runs half
  done
done <<<"$CELLS"

python3 - "$RESULTS" >"$OUT/latency.md" <<'PY'
import json, statistics as st, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
g = defaultdict(list)
for r in rows:
    g[(r["label"], r["target"], r["phase"], r["client"])].append(r)
cells = sorted({(r["label"], r["target"]) for r in rows}, key=lambda c: (c[1], c[0]))
clients = sorted({r["client"] for r in rows})
med = lambda v: st.median(v) if v else float("nan")
print("# Latency at half the maximum load\n")
print("Closed-loop maximum (median msgs/s), then open loop: **own** = each client at half its own")
print("maximum, **shared** = every client at half the lowest maximum. Latency from each record's")
print("intended send time to its delivery report (HDR, µs -> ms). p99 shown as median [min-max] of")
print("the runs. Target: p99 at half the maximum <= linger.ms + 2 ms, and not above librdkafka's")
print("(compared at the shared rate, the same load). rtt: the broker's round trip (request written")
print("to response read) from the client's own statistics at the shared rate, median of the runs' mean")
print("and of their 500 ms windows' p99: the share of the latency spent at the broker. Peak RSS at")
print("the shared rate (median MB): the memory each client needs for the same load; closed loop,")
print("as in the matrix, a client faster than the broker fills its queue to the limit instead.\n")
print("| cell | target | client | max msgs/s | own: rate | p50 ms | p99 ms | p99.9 ms | shared: rate | p99 ms | rtt mean / p99 ms | RSS MB (shared) | p99 <= linger+2 | p99 <= rdkafka (shared) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for label, target in cells:
    rd_shared = med([r["p99_us"] for r in g[(label, target, "shared", "rdkafka:base")]])
    for c in clients:
        mx = g[(label, target, "max", c)]; own = g[(label, target, "own", c)]; sh = g[(label, target, "shared", c)]
        if not own:
            continue
        linger = own[0]["linger_ms"]
        p99 = [r["p99_us"] / 1000 for r in own]; sp99 = [r["p99_us"] / 1000 for r in sh]
        ok_linger = "yes" if med(p99) <= linger + 2 else "**no**"
        ok_rd = "-" if c.startswith("rdkafka") or not sp99 else ("yes" if med(sp99) * 1000 <= rd_shared else "**no**")
        ravg = [r["rtt_avg_us"] / 1000 for r in sh if r.get("rtt_avg_us") is not None]
        rp99 = [r["rtt_p99_us"] / 1000 for r in sh if r.get("rtt_p99_us") is not None]
        rtt = "%.2f / %.2f" % (med(ravg), med(rp99)) if ravg else "-"
        rss = [r["peak_rss_kib"] / 1024 for r in sh if r.get("peak_rss_kib") is not None]
        print("| %s | %s | %s | %.2f M | %.2f M | %.2f | %.2f [%.2f-%.2f] | %.2f | %s | %s | %s | %s | %s | %s |" % (
            label, target, c, med([r["msgs_per_s"] for r in mx]) / 1e6, own[0]["rate"] / 1e6,
            med([r["p50_us"] for r in own]) / 1000, med(p99), min(p99), max(p99),
            med([r["p999_us"] for r in own]) / 1000,
            "%.2f M" % (sh[0]["rate"] / 1e6) if sh else "-",
            "%.2f [%.2f-%.2f]" % (med(sp99), min(sp99), max(sp99)) if sp99 else "-", rtt,
            "%.1f" % med(rss) if rss else "-", ok_linger, ok_rd))
PY
echo "wrote $OUT/latency.md" >&2
