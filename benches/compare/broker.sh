# Sourced by run.sh and latency.sh: a private real Kafka broker (`purekafka-perf broker`) as a
# coprocess. start_broker PERF LOG sets BOOTSTRAP, BROKER_PID and JVM_PID and warms the
# broker's JIT; stop_broker closes the coprocess's stdin, which stops the broker.

start_broker() {
  local perf="$1" log="$2" line
  echo "starting a private Kafka broker..." >&2
  coproc BROKER { "$perf" broker 2>>"$log"; }
  BROKER_PID=$!
  read -r line <&"${BROKER[0]}"
  BOOTSTRAP="${line#bootstrap=}"
  read -r line <&"${BROKER[0]}" || true
  JVM_PID="${line#pid=}"
  echo "broker at $BOOTSTRAP (pid $JVM_PID)" >&2
  # Warm the broker's JIT before measuring: the first cells otherwise ran against a broker
  # still compiling (and, on the sink, beside its compiler threads).
  "$perf" create-topic --bootstrap "$BOOTSTRAP" --topic warmup --partitions 16 >/dev/null
  "$perf" --bootstrap "$BOOTSTRAP" --topic warmup --partitions 16 --key 16 --count 3000000 --quiet >/dev/null 2>>"$log" || true
  "$perf" delete-topic --bootstrap "$BOOTSTRAP" --topic warmup >/dev/null 2>>"$log" || true
}

stop_broker() {
  if [ -n "${BROKER_PID:-}" ]; then
    exec {BROKER[1]}>&- 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
}
