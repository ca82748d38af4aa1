#!/usr/bin/env bash
# make test: the page at /ui/ and the event stream behind it, against the
# running native stack.
#   1. GET /v1/events: a key is required; frames carry the saga's events,
#      every frame to every reader; a reader that comes back with
#      Last-Event-ID carries on where it left off, one with an id the
#      gateway no longer holds is told (reset); a filter (order_id, types).
#   2. 200 readers as the page reads (the status events, and one order's
#      every event) while orders arrive at STREAM_RATE/s (150): all get the
#      same frames, none is dropped; a reader that stops reading is
#      disconnected. (What readers cost the saga: make bench-stream.)
#   3. The browser test (tests/ui/browser.mjs): Debian's chromium driven by
#      playwright-core, screenshots into docs/img.
# Installs what it needs (chromium, node, npm; playwright-core into .cache).
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/asan}
OUT=.run/ui-test
# 150/s: under make test the daemons run with the sanitizers, and a
# saturated gateway rightly drops readers it cannot serve for seconds
# (make bench-stream measures 300/s on the release build).
RATE=${STREAM_RATE:-150}
SECONDS_EACH=${STREAM_SECONDS:-20}
READERS=${STREAM_READERS:-200}
mkdir -p "$OUT"
. tests/support/verdicts.sh

set -a
. .run/stack.env
set +a
. tests/ui/gateway.sh
stream() { curl -sN --max-time "$1" "${@:2}" "$GATEWAY_URL/v1/events"; }
auth=(-H "Authorization: Bearer $API_KEY")

# --- 1. the stream -----------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$GATEWAY_URL/v1/events")
check "$([ "$code" = 401 ]; echo $?)" "GET /v1/events without a key: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Authorization: Bearer wrong-key-000' "$GATEWAY_URL/v1/events")
check "$([ "$code" = 401 ]; echo $?)" "GET /v1/events with a wrong key: $code"

# Readers during a short load: 20 that count every frame (against what the
# gateway sent), one that keeps them; then the same stream again from the
# fifth frame's id.
"$BUILD_DIR/bin/sse-readers" "$GATEWAY_URL" 20 120 >"$OUT/every.txt" 2>&1 &
every=$!
sleep 1
events0=$(metric saga_sse_events_total)
RATE=50 DURATION=4 DRAIN_S=30 OUT_DIR=$OUT/short "$BUILD_DIR/bin/loadgen" >"$OUT/short.log" 2>&1 &
load=$!
stream 6 "${auth[@]}" >"$OUT/first.txt"
wait $load
sleep 5 # the last events (notifications)
events1=$(metric saga_sse_events_total)
sleep 1
kill -TERM $every
wait $every
read -r min max ended < <(sed -E 's/.*frames_min=([0-9]+) frames_max=([0-9]+) ended_early=([0-9]+).*/\1 \2 \3/' "$OUT/every.txt")
check "$([ "${ended:-1}" = 0 ] && [ "${min:-0}" = $((events1 - events0)) ] && [ "${max:-0}" = "$min" ]; echo $?)" \
	"20 readers each got every frame the gateway sent, once ($(cat "$OUT/every.txt"); sent $((events1 - events0)))"
frames=$(grep -c '^event: saga$' "$OUT/first.txt")
check "$([ "$frames" -ge 50 ]; echo $?)" "a reader gets the saga's events as frames ($frames in 6 s of 50 orders/s)"
check "$(head -c 200 "$OUT/first.txt" | grep -q '^retry: '; echo $?)" "the stream starts with a retry interval"
python3 - "$OUT/first.txt" >"$OUT/frames.json" <<'PY'
import json, sys
frames = [f for f in open(sys.argv[1]).read().split("\n\n") if f.startswith("id: ")]
out = []
for f in frames:
    lines = dict(l.split(": ", 1) for l in f.split("\n"))
    out.append({"id": lines["id"], "data": json.loads(lines["data"])})
json.dump(out, sys.stdout)
PY
check "$(python3 - "$OUT/frames.json" <<'PY'
import json, sys
frames = json.load(open(sys.argv[1]))
need = {"order_id", "event", "event_id", "at", "producer"}
ok = frames and all(need <= set(f["data"]) for f in frames)
kinds = {f["data"]["event"] for f in frames}
ok = ok and {"OrderRequested", "OrderCreated", "PaymentProcessed"} <= kinds
print(0 if ok else 1)
PY
)" "every frame names its order, event, id, time and producer"
resume_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[4]["id"])' "$OUT/frames.json")
stream 2 "${auth[@]}" -H "Last-Event-ID: $resume_id" >"$OUT/resumed.txt"
check "$(python3 - "$OUT/frames.json" "$OUT/resumed.txt" <<'PY'
import json, sys
frames = json.load(open(sys.argv[1]))
resumed = [f for f in open(sys.argv[2]).read().split("\n\n") if f.startswith("id: ")]
want = [f["id"] for f in frames[5:]]
got = [f.split("\n", 1)[0][4:] for f in resumed][:len(want)]
print(0 if want and got == want else 1)
PY
)" "Last-Event-ID $resume_id: the stream carries on with the frames after it"
stream 2 "${auth[@]}" -H 'Last-Event-ID: 12345abc' >"$OUT/reset.txt"
check "$(grep -q '^event: reset$' "$OUT/reset.txt"; echo $?)" "an id the gateway does not hold: the reader is told (event: reset)"
# A filter: one order's events only, from the frames above (Last-Event-ID 1
# would be the stream's first frame: the ring still holds them).
order=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["data"]["order_id"])' "$OUT/frames.json")
first_id=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))[0]["id"]) - 1)' "$OUT/frames.json")
stream 2 "${auth[@]}" -H "Last-Event-ID: $first_id" -G --data-urlencode "order_id=$order" >"$OUT/one.txt"
check "$(python3 - "$OUT/one.txt" "$order" <<'PY'
import json, sys
frames = [f for f in open(sys.argv[1]).read().split("\n\n") if f.startswith("id: ")]
orders = {json.loads(f.split("data: ", 1)[1])["order_id"] for f in frames}
events = [json.loads(f.split("data: ", 1)[1])["event"] for f in frames]
print(0 if orders == {sys.argv[2]} and ("OrderCompleted" in events or "OrderCancelled" in events) else 1)
PY
)" "?order_id= streams that order's events only, to its end ($(grep -c '^event: saga$' "$OUT/one.txt") frames)"
# The brief form (what the page reads): the same frames from the same id,
# each only with how it moves its order (what a list of orders shows).
stream 2 "${auth[@]}" -H "Last-Event-ID: $first_id" >"$OUT/full.txt"
stream 2 "${auth[@]}" -H "Last-Event-ID: $first_id" -G --data-urlencode view=brief >"$OUT/brief.txt"
check "$(python3 - "$OUT/full.txt" "$OUT/brief.txt" <<'PY'
import json, sys
def frames(path):
    out = {}
    for f in open(path).read().split("\n\n"):
        if f.startswith("id: "):
            lines = dict(l.split(": ", 1) for l in f.split("\n"))
            out[lines["id"]] = json.loads(lines["data"])
    return out
full, brief = frames(sys.argv[1]), frames(sys.argv[2])
full_only = {"event", "at", "customer_id", "event_id", "producer", "causation_id"}
ok = len(full) >= 50 and set(full) == set(brief)
ok = ok and all({"event", "at", "event_id", "producer"} <= set(f) for f in full.values())
ok = ok and all(brief[i] == {k: v for k, v in full[i].items() if k not in full_only} for i in full)
ok = ok and all("order_id" in b for b in brief.values())
print(0 if ok else 1)
PY
)" "?view=brief: the same frames, each with the order, its status and total only ($(grep -c '^event: saga$' "$OUT/brief.txt") frames)"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${auth[@]}" "$GATEWAY_URL/v1/events?view=short")
check "$([ "$code" = 400 ]; echo $?)" "a view other than full or brief: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${auth[@]}" "$GATEWAY_URL/v1/events?types=$(printf 'T%d,' $(seq 1 40))")
check "$([ "$code" = 400 ]; echo $?)" "a filter of more than 32 event types: $code"

# --- 2. many readers under load ---------------------------------------------------
# Readers as the page reads: the events that move an order's status, and
# every event of the order it shows. (What they cost the saga is measured
# by make bench-stream, tests/ui/bench.sh.)
# The readers above are gone once the next keepalive finds them closed.
readers_open 0 2>/dev/null
check "$([ "$(metric saga_sse_readers)" = 0 ]; echo $?)" "readers that left are let go within a keepalive (5 s)"
dropped0=$(metric saga_sse_dropped_total)
closed0=$(metric 'saga_http_slow_clients_closed_total{server="api"}')
"$BUILD_DIR/bin/sse-readers" "$GATEWAY_URL" "$READERS" 600 1 \
	"types=$(page_types)&follow=$order&view=brief" \
	>"$OUT/readers.txt" 2>&1 &
readers=$!
sleep 3
check "$([ "$(metric saga_sse_readers)" = $((READERS + 1)) ]; echo $?)" \
	"$READERS readers and a stalled one connected ($(metric saga_sse_readers) on the gateway)"
events1=$(metric saga_sse_events_total)
RATE=$RATE DURATION=$SECONDS_EACH DRAIN_S=60 OUT_DIR=$OUT/watched "$BUILD_DIR/bin/loadgen" >"$OUT/watched.log" 2>&1
sleep 12 # the last events (notifications), and the stalled reader's time
events2=$(metric saga_sse_events_total)
sleep 2 # the last frames reach the readers
kill -TERM $readers
wait $readers
cat "$OUT/readers.txt"
read -r min max ended stalled_closed < <(sed -E 's/.*frames_min=([0-9]+) frames_max=([0-9]+) ended_early=([0-9]+) .*stalled_closed=([0-9]+).*/\1 \2 \3 \4/' "$OUT/readers.txt")
accepted=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["accepted"] if s["finished"] == s["accepted"] else 0)' "$OUT/watched/summary.json")
check "$([ "${accepted:-0}" -gt 0 ]; echo $?)" \
	"every order accepted while they read finished ($RATE/s for $SECONDS_EACH s: ${accepted:-0})"
check "$([ "${ended:-1}" = 0 ] && [ "$(metric saga_sse_dropped_total)" = "$dropped0" ]; echo $?)" \
	"no reader was dropped or cut off (ended early: ${ended:-?})"
check "$([ "${min:-0}" = "${max:-x}" ] && [ "${min:-0}" -ge $((${accepted:-1} * 2)) ]; echo $?)" \
	"every reader got the same frames, at least two per order (${min:-?} each; the gateway put $((events2 - events1)) on the stream)"
# By the gateway's watchdog or by libmicrohttpd's own idle timeout,
# whichever comes first (both 10 s): the reader saw the gateway close it.
closed=$(($(metric 'saga_http_slow_clients_closed_total{server="api"}') - closed0))
check "$([ "${stalled_closed:-0}" = 1 ]; echo $?)" \
	"the reader that stopped reading was disconnected by the gateway ($closed by its watchdog)"

# --- 3. the page in a browser ---------------------------------------------------------
command -v chromium >/dev/null || bash deploy/local/install.sh chromium >/dev/null
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	bash deploy/local/install.sh nodejs npm >/dev/null
fi
NODE_DIR=.cache/ui-test
if ! cmp -s tests/ui/package.json "$NODE_DIR/package.json" || [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
	rm -rf "$NODE_DIR"
	mkdir -p "$NODE_DIR"
	cp tests/ui/package.json "$NODE_DIR/"
	(cd "$NODE_DIR" && npm install --no-audit --no-fund --silent) >"$OUT/npm.log" 2>&1 ||
		{ echo "could not install playwright-core (see $OUT/npm.log)"; }
fi
cp tests/ui/browser.mjs "$NODE_DIR/browser.mjs"
mkdir -p docs/img
SHOTS=$PWD/docs/img plain browser node "$NODE_DIR/browser.mjs"
echo "ui: $passed passed, $failed failed"
[ "$failed" = 0 ]
