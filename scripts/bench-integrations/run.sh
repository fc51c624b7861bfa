#!/usr/bin/env bash
# What push subscriptions and an outgoing webhook cost the message path (issue 21; docs/PERFORMANCE.md):
#   scripts/bench-integrations/run.sh without|push|hook|with ROOMS SUBSCRIBERS MESSAGES OUT.json
# Starts chatweb (target/release) on 127.0.0.1:18000 with a receiver of its own on 127.0.0.1:18765 (sink.py,
# answering 201 to every POST) listed in --push-hosts and --webhook-hosts; `push` subscribes 100 staff users
# (one P-256 key each), `hook` registers one outgoing hook for every room and every event, `with` does
# both; then `chatweb-bench fanout --target` measures, and the receiver's counts are printed. Everything it
# started is stopped and its directory removed on exit. Needs python3 with `cryptography`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mode=$1; rooms=$2; subs=$3; msgs=$4; out=$5
BIN=${CHATWEB:-$ROOT/target/release/chatweb}; B=${CHATWEB_BENCH:-$ROOT/target/release/chatweb-bench}
D=$(mktemp -d); SINKPORT=18765; PORT=18000
export CHATWEB_DATABASE_URL=sqlite://$D/db.sqlite3 CHATWEB_SUPERUSER_PASSWORD=benchpass-123456
python3 "$HERE/sink.py" $SINKPORT & SINK=$!
trap 'kill $SINK 2>/dev/null; [ -n "${SRV:-}" ] && kill $SRV 2>/dev/null; rm -rf "$D"' EXIT
$BIN migrate >/dev/null 2>&1
if [ "$mode" != without ]; then
  $BIN createsuperuser --noinput --username boss >/dev/null 2>&1
  STAFF=$($BIN token create boss 2>/dev/null | tail -1)
  : > $D/tokens
  for i in $(seq 1 100); do
    $BIN createsuperuser --noinput --username "u$i" >/dev/null 2>&1
    $BIN token create "u$i" 2>/dev/null | tail -1 >> $D/tokens
  done
fi
$BIN --bind 127.0.0.1 --port $PORT --limits off --push-hosts 127.0.0.1:$SINKPORT --webhook-hosts 127.0.0.1:$SINKPORT > $D/server.log 2>&1 & SRV=$!
for i in $(seq 1 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
if [ "$mode" != without ]; then python3 "$HERE/setup.py" $PORT $SINKPORT $D/tokens "$STAFF" $mode; fi
$B fanout --target ws://127.0.0.1:$PORT --server-pid $SRV --no-relay --rooms $rooms --subscribers $subs --messages $msgs > $out 2>$D/bench.err || { cat $D/bench.err; exit 1; }
echo "sink: $(curl -s http://127.0.0.1:$SINKPORT/)"
