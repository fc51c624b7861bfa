#!/usr/bin/env bash
# PostgreSQL store throughput on N nodes sharing one PostgreSQL and one Redis (issue 22; docs/PERFORMANCE.md):
#   [STORE_ARGS="--messages 500"] scripts/bench-store-nodes/run.sh NODES [OUT_DIR]
# Makes a fresh database on the machine's PostgreSQL (127.0.0.1:5432, user postgres), starts NODES chatweb
# nodes (target/release, or $CHATWEB) on it with Redis (127.0.0.1:6379, a prefix of their own), then runs one
# `chatweb-bench store --target` per node at once (100 senders over 100 rooms each, rooms apart per node)
# and prints each node's acked messages/s and the sum. Everything it started is stopped, and the database
# dropped, on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
nodes=$1; out=${2:-$(mktemp -d)}
BIN=${CHATWEB:-$ROOT/target/release/chatweb}; B=${CHATWEB_BENCH:-$ROOT/target/release/chatweb-bench}
DB=bench_nodes_$$; PREFIX=bench-nodes-$$; PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" postgres >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" postgres
export CHATWEB_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
$BIN migrate >/dev/null
for i in $(seq 1 "$nodes"); do
  port=$((18300 + i))
  $BIN --bind 127.0.0.1 --port $port --limits off --redis-url redis://127.0.0.1:6379 --redis-prefix $PREFIX \
    > "$out/node$i.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
done
BENCHES=()
for i in $(seq 1 "$nodes"); do
  $B store --target ws://127.0.0.1:$((18300 + i)) --server-pid "${PIDS[$((i - 1))]}" --no-relay ${STORE_ARGS:-} \
    > "$out/store$i.json" 2> "$out/store$i.err" & BENCHES+=($!)
done
for p in "${BENCHES[@]}"; do wait "$p"; done
python3 - "$out" "$nodes" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
total = 0
for i in range(1, n + 1):
    c = json.load(open(f"{out}/store{i}.json"))["chatweb"]
    total += c["acked_per_s"]
    print(f"node {i}: {c['acked_per_s']:.0f} acked/s, server CPU {c.get('server_cpu_s')} s, lost {c.get('lost')}")
print(f"sum: {total:.0f} acked/s over {n} node(s)")
PY
