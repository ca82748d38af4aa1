#!/usr/bin/env bash
# make test: the saga with the schema registry (Apicurio Registry, Confluent
# framing), against the running native stack whose daemons write
# single-object encoding when it starts:
#   1. the registry starts; the daemons switch to it one at a time while
#      orders flow (a rolling switch: every daemon reading through it first,
#      then every daemon writing with it): both framings on every topic,
#      nothing dead-lettered, every order finished once, every invariant held;
#   2. the e2e suite again, registry on: every record on every topic since
#      then in the Confluent framing, each id resolved by the registry;
#   3. Confluent's Python client reads the daemons' records, and orders it
#      writes with its AvroSerializer complete;
#   4. the registry is the contract gate: an incompatible schema is refused
#      with 409, by the registry and by `schemas-check --registry`;
#   5. the registry stopped: every saga path still completes, a daemon that
#      starts waits for it, a record with an id no daemon has met waits (not
#      dead-lettered); restarted: that record applied, the same ids, nothing
#      redone.
# Leaves the daemons running with the registry on (tests/run.sh stops them).
# BUILD_DIR names the build. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/asan}
PY=.cache/registry-client/bin/python
OUT=.run/registry-test
mkdir -p "$OUT"
. tests/support/verdicts.sh
# suite BINARY: a Criterion suite, its passes and failures added up.
suite() {
	local name=$(basename "$1") line
	"$1" --jobs=1 >"$OUT/$name.log" 2>&1
	line=$(grep -a 'Synthesis:' "$OUT/$name.log" | tail -n 1)
	if [ -z "$line" ]; then
		failed=$((failed + 1))
		echo "FAIL $name: no summary; last lines:"
		tail -n 20 "$OUT/$name.log" | sed 's/^/    /'
		return
	fi
	passed=$((passed + $(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")))
	failed=$((failed + $(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")))
	grep -E '^\[FAIL\]' "$OUT/$name.log" | sed 's/^/  /'
	echo "$name (registry on): $(sed -E 's/.*(Tested.*)/\1/' <<<"$line")"
}

# Confluent's client, from PyPI, once (pinned in requirements.txt).
if [ ! -f .cache/registry-client/.installed ] ||
	! cmp -s tests/registry/requirements.txt .cache/registry-client/.installed; then
	rm -rf .cache/registry-client
	python3 -m venv .cache/registry-client &&
		.cache/registry-client/bin/pip install -q -r tests/registry/requirements.txt &&
		cp tests/registry/requirements.txt .cache/registry-client/.installed ||
		{ echo "could not install confluent-kafka from PyPI"; echo "0 passed, 1 failed"; exit 1; }
fi

set -a
. .run/stack.env
set +a
# This script, the suites and the Python client are the registry's admin;
# daemons.sh gives the daemons their own user.
export SCHEMA_REGISTRY_URL=$REGISTRY_URL SCHEMA_REGISTRY_USER=saga-admin \
	SCHEMA_REGISTRY_PASSWORD=$REGISTRY_ADMIN_PASSWORD
reg() { curl -sS -K - "$@" <<<"user = \"saga-admin:$REGISTRY_ADMIN_PASSWORD\""; }
# versions: every subject and its versions, one line each.
versions() {
	local s
	for s in $(reg "$REGISTRY_URL/subjects" | tr -d '[]"' | tr ',' ' '); do
		echo "$s $(reg "$REGISTRY_URL/subjects/$s/versions")"
	done | sort
}

t0=$SECONDS
bash deploy/local/registry.sh start
check $? "the registry starts ($((SECONDS - t0)) s)"
check "$([ "$(reg "$REGISTRY_URL/config")" = '{"compatibilityLevel":"BACKWARD"}' ]; echo $?)" \
	"the registry's rule for every subject is BACKWARD"
check "$(curl -s -o /dev/null -w '%{http_code}' "$REGISTRY_URL/subjects" | grep -qx 401; echo $?)" \
	"the registry refuses a client without credentials (401)"

# --- 1. a rolling switch under load ------------------------------------------
echo "--- rolling switch: the daemons move to the registry one at a time"
$PY tests/registry/client.py mark "$OUT/mark-rolling.json" >/dev/null
dead_before=$($PY tests/registry/client.py dead)
RATE=10 DURATION=90 DRAIN_S=120 MIX=ok=70,declined=15,stock=15 \
	OUT_DIR=$OUT/rolling "$BUILD_DIR/bin/loadgen" >"$OUT/rolling-loadgen.log" 2>&1 &
load=$!
sleep 5
# Readers first (each daemon reads both framings, still writes single-object
# encoding), then writers: no daemon ever meets a framing it cannot read.
for mode in read on; do
	for name in inventory payment shipping notification order order-2 gateway; do
		SCHEMA_REGISTRY=$mode bash deploy/local/daemons.sh stop "$name" >/dev/null
		SCHEMA_REGISTRY=$mode BUILD_DIR=$BUILD_DIR bash deploy/local/daemons.sh start "$name" >/dev/null ||
			echo "$name did not start with SCHEMA_REGISTRY=$mode"
		sleep 2
	done
done
wait $load
tail -n 1 "$OUT/rolling-loadgen.log"
summary=$OUT/rolling/summary.json
check "$(python3 - "$summary" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
# A gateway being restarted refuses connections for a moment: those orders
# were never accepted. Every accepted one must finish.
ok = s["accepted"] >= 0.8 * s["scheduled"] and s["finished"] == s["accepted"]
print(0 if ok else 1)
PY
)" "every order accepted during the switch finished ($(tr -d '\n' <"$summary"))"
dead_after=$($PY tests/registry/client.py dead)
check "$([ "$dead_before" = "$dead_after" ]; echo $?)" "no dead letter during the switch ($dead_after)"
"$BUILD_DIR/bin/check-invariants" >"$OUT/invariants-rolling.log" 2>&1
check $? "check-invariants after the switch: $(tail -n 1 "$OUT/invariants-rolling.log")"
plain framing-mixed $PY tests/registry/client.py framing "$OUT/mark-rolling.json" mixed

# --- 2. the e2e suite with the registry on -----------------------------------
echo "--- the e2e suite, every daemon and the suites writing the Confluent framing"
export SCHEMA_REGISTRY=on # for the suites that restart daemons (daemons.sh)
$PY tests/registry/client.py mark "$OUT/mark-e2e.json" >/dev/null
for bin in "$BUILD_DIR"/tests/bin/e2e-[0-9]*; do
	[ -x "$bin" ] && suite "$bin"
done
plain framing-confluent $PY tests/registry/client.py framing "$OUT/mark-e2e.json" confluent

# --- 3. a client written elsewhere ----------------------------------------------
echo "--- Confluent's Python client reads and writes the topics"
plain interop $PY tests/registry/client.py interop 20

# --- 4. the contract gate -----------------------------------------------------------
echo "--- an incompatible schema is refused"
mkdir -p "$OUT/schemas"
rm -f "$OUT"/schemas/*.avsc
cp schemas/*.avsc "$OUT/schemas/"
python3 - "$OUT/schemas/OrderCreated.avsc" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["fields"].append({"name": "gift_wrap", "type": "boolean"})  # no default: old data unreadable
json.dump(s, open(sys.argv[1], "w"), indent=2)
PY
subject=order-events-saga.order.OrderCreated
python3 -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' \
	"$OUT/schemas/OrderCreated.avsc" >"$OUT/refused-body.json"
code=$(reg -o "$OUT/refused.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data-binary @"$OUT/refused-body.json" "$REGISTRY_URL/subjects/$subject/versions")
check "$([ "$code" = 409 ]; echo $?)" "the registry refuses an incompatible OrderCreated: $code $(head -c 160 "$OUT/refused.json")"
"$BUILD_DIR/bin/schemas-check" --registry "$REGISTRY_URL" "$OUT/schemas" schemas/released >"$OUT/gate.log" 2>&1
rc=$?
check "$([ $rc = 1 ] && grep -q "FAIL OrderCreated.avsc: the registry's rule" "$OUT/gate.log"; echo $?)" \
	"schemas-check --registry fails on it (exit $rc): $(grep "registry's rule" "$OUT/gate.log" | head -n 1)"
"$BUILD_DIR/bin/schemas-check" --registry "$REGISTRY_URL" schemas schemas/released >"$OUT/gate-ok.log" 2>&1
check $? "schemas-check --registry passes the schemas as they are: $(tail -n 1 "$OUT/gate-ok.log")"

# --- 5. the registry stopped, then back ------------------------------------------
echo "--- the registry stopped: the saga goes on with the ids it has"
dead_before=$($PY tests/registry/client.py dead)
# Orders in a schema id no daemon has met yet, to arrive during the outage
# (registering it adds a version: the registry's content is read after).
$PY tests/registry/client.py prepare "$OUT/unmet.json" 5 >"$OUT/prepare.log" 2>&1
check $? "$(tail -n 1 "$OUT/prepare.log")"
ids_before=$(versions)
kill -9 "$(bash deploy/local/registry.sh pid)"
sleep 1
check "$(bash deploy/local/registry.sh ready >/dev/null 2>&1; [ $? != 0 ]; echo $?)" "the registry is down"
# Every path; the suite itself (a new process without the registry's ids)
# writes its test products in single-object encoding.
SCHEMA_REGISTRY_URL= suite "$BUILD_DIR/tests/bin/e2e-01_paths"
check "$(bash deploy/local/daemons.sh status >/dev/null; echo $?)" "every daemon kept running without the registry"
# A daemon that starts meanwhile waits for the registry, like for PostgreSQL.
bash deploy/local/daemons.sh stop notification >/dev/null
BUILD_DIR=$BUILD_DIR bash deploy/local/daemons.sh start notification >"$OUT/notification-start.log" 2>&1 &
starting=$!
sleep 6
check "$(! bash deploy/local/daemons.sh status notification >/dev/null; echo $?)" \
	"notification, started while the registry is down, waits for it (not ready)"
# A record whose id cannot be looked up now waits in its consumer: not
# poison, not applied.
plain unmet-send $PY tests/registry/client.py send "$OUT/unmet.json"
plain unmet-wait $PY tests/registry/client.py await "$OUT/unmet.json" 10 not
check "$([ "$($PY tests/registry/client.py dead)" = "$dead_before" ]; echo $?)" \
	"nothing dead-lettered while the registry is down"
t0=$SECONDS
bash deploy/local/registry.sh start >/dev/null
check $? "the registry starts again ($((SECONDS - t0)) s)"
wait $starting
check $? "notification is ready once the registry is back"
plain unmet-done $PY tests/registry/client.py await "$OUT/unmet.json" 90 completed
ids_after=$(versions)
check "$([ -n "$ids_before" ] && [ "$ids_before" = "$ids_after" ]; echo $?)" \
	"the same subjects and versions after the restart ($(wc -l <<<"$ids_after") subjects)"
sleep 2
dead_after=$($PY tests/registry/client.py dead)
check "$([ "$dead_before" = "$dead_after" ]; echo $?)" "no dead letter from the outage ($dead_after)"
plain interop-after $PY tests/registry/client.py interop 5
"$BUILD_DIR/bin/check-invariants" >"$OUT/invariants-end.log" 2>&1
check $? "check-invariants at the end: $(tail -n 1 "$OUT/invariants-end.log")"

echo "registry: $passed passed, $failed failed"
[ "$failed" = 0 ]
