#!/usr/bin/env bash
# The compose stack for real (make compose-test, and a suite of make test):
# a Docker engine (Debian's docker.io, started here when none answers and
# then stopped again), the stand-in images of the servers built from
# Debian's packages and Kafka's jars (deploy/compose/test-images/), the
# project's image, compose.yaml brought up under its own project name and
# ports beside anything else on the machine, and then:
#   - every server and daemon healthy;
#   - the HTTP API and every path of the saga (tests/compose/api.py);
#   - the broker, Redis and PostgreSQL refuse what they must;
#   - a daemon killed with SIGKILL comes back by its restart policy and the
#     saga goes on;
#   - the invariant checker passes inside the compose network;
#   - every metric of the dashboard and the alerting rules is scraped, all
#     Prometheus targets up (tests/compose/dashboard.py);
#   - the loadtest profile runs and writes its report to the mounted directory;
#   - docker-compose down -v leaves no container or volume, and a native
#     stack running meanwhile was not touched.
# Prints one line per check and "compose: N passed, N failed (S s)".
# COMPOSE_GATEWAY_PORT and COMPOSE_PROMETHEUS_PORT: the published ports.
# COMPOSE_KEEP=1: leave the stack up after the checks (and skip the last ones).
set -uo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib.sh # the native stack's servers (broker_pids, pg_pids)
T0=$SECONDS
DIR=.run/compose-test
PROJECT=saga-compose-test
NET=${PROJECT}_default
mkdir -p "$DIR"
. tests/support/verdicts.sh
summary() { echo "compose: $passed passed, $failed failed ($((SECONDS - T0)) s)"; }
# fatal WHAT LOG: a step the rest needs failed; the end of its log, and stop.
fatal() {
	check 1 "$1"
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 25 "$2" | sed 's/^/    /'
	summary
	exit 1
}
# sub SCRIPT...: a checking script whose checks count as ours.
sub() {
	local out line
	out=$("$@" 2>&1)
	echo "$out"
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
	[ -n "$line" ] || { check 1 "$* printed no summary"; return; }
	passed=$((passed + $(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")))
	failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
}

# --- the engine, and what the test must leave as it found it
engine_before=$(cat .run/dockerd/pid 2>/dev/null || true)
bash deploy/compose/engine.sh start >"$DIR/engine.log" 2>&1 || fatal "a Docker engine answers" "$DIR/engine.log"
engine_after=$(cat .run/dockerd/pid 2>/dev/null || true)
native() {
	# The native stack's servers: their pids, and whether they answer.
	echo "$(broker_pids) $(pg_pids | cut -d' ' -f1) $(head -n 1 "$REDIS_DIR/redis.pid" 2>/dev/null)" \
		"$(bash deploy/local/stack.sh status >/dev/null 2>&1 && echo up || echo down)"
}
native_before=$(native)

dc() { docker-compose -p "$PROJECT" --env-file "$DIR/env" -f compose.yaml "$@"; }
down() { dc --profile observability --profile registry --profile loadtest --profile tools down -v --remove-orphans; }
cleanup() {
	[ "${COMPOSE_KEEP:-0}" = 1 ] && return
	down >/dev/null 2>&1
	[ "$engine_after" != "$engine_before" ] && bash deploy/compose/engine.sh stop >/dev/null 2>&1
}
trap cleanup EXIT

# --- images: the base, the stand-ins, the project's
t=$SECONDS
bash deploy/compose/pins.sh check >"$DIR/pins.log" 2>&1 || fatal "every pinned package is the archive's version" "$DIR/pins.log"
# The base image and the stand-ins; their variables (KAFKA_IMAGE=...) exported.
bash deploy/compose/images.sh >"$DIR/images.env" 2>"$DIR/build.log" ||
	fatal "the base image and the servers' stand-ins build" "$DIR/build.log"
set -a
. "$DIR/images.env"
set +a
export SAGA_IMAGE=order-saga:compose-test
export GATEWAY_HOST_PORT=${COMPOSE_GATEWAY_PORT:-28080} PROMETHEUS_HOST_PORT=${COMPOSE_PROMETHEUS_PORT:-29090} \
	REGISTRY_HOST_PORT=${COMPOSE_REGISTRY_PORT:-28081}
rm -rf "$DIR/env" "$DIR/report"
ENV_FILE=$DIR/env LOADTEST_REPORT_DIR=$PWD/$DIR/report sh deploy/compose/make-env.sh >>"$DIR/build.log" 2>&1 ||
	fatal "make-env writes the test's .env" "$DIR/build.log"
# With the schema registry (profile registry): the daemons write the Confluent framing.
echo "SCHEMA_REGISTRY_URL=http://schema-registry:8080/apis/ccompat/v7" >>"$DIR/env"
set -a
. "$DIR/env"
set +a
dc build init >>"$DIR/build.log" 2>&1 || fatal "the project's image builds" "$DIR/build.log"
size=$(docker image inspect -f '{{.Size}}' "$SAGA_IMAGE")
mb=$((size / 1000000))
echo "images built in $((SECONDS - t)) s; $SAGA_IMAGE is $mb MB"
# Small: Debian's slim base and the libraries the programs load, nothing to build with.
check "$([ "$mb" -lt 120 ]; echo $?)" "the project's image is small ($mb MB, under 120)"
check "$([ "$(docker image inspect -f '{{.Config.User}}' "$SAGA_IMAGE")" = saga ]; echo $?)" \
	"the project's image runs as a non-root user"

# --- up: everything but Grafana (not available here; its dashboard is checked below)
t=$SECONDS
services=$(dc --profile observability --profile registry config --services | grep -vx -e grafana -e check -e loadtest)
dc --profile observability --profile registry up -d $services >"$DIR/up.log" 2>&1
check $? "docker-compose up ($(wc -w <<<"$services") services)"
healthy() {
	local c state health n=0 bad=
	for c in $(dc ps -q); do
		state=$(docker inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c")
		read -r name status code health <<<"$state"
		case "$name $status $health" in
		*_init_[0-9]*\ exited\ none) [ "$code" = 0 ] || bad+=" ${name#/}(exit $code)" ;;
		*running\ healthy) n=$((n + 1)) ;;
		*) bad+=" ${name#/}($status/$health)" ;;
		esac
	done
	echo "$n$bad"
}
deadline=$((SECONDS + 300))
want=$(($(wc -w <<<"$services") - 1)) # init exits once done
until [ "$(healthy)" = "$want" ] || [ $SECONDS -gt $deadline ]; do sleep 2; done
state=$(healthy)
check "$([ "$state" = "$want" ]; echo $?)" "every server and daemon is healthy ($state of $want, $((SECONDS - t)) s)"
[ "$state" = "$want" ] || { dc logs --tail 20 >"$DIR/logs.txt" 2>&1; fatal "the stack came up" "$DIR/logs.txt"; }
rooted=
for s in $services; do
	u=$(docker inspect -f '{{.Config.User}}' "$(dc ps -q "$s")")
	case $u in "" | root | 0 | 0:*) rooted+=" $s(${u:-no user})" ;; esac
done
check "$([ -z "$rooted" ]; echo $?)" "every container runs as a non-root user${rooted:+; not:$rooted}"
gw=http://127.0.0.1:$GATEWAY_HOST_PORT
until curl -fsS -H "X-API-Key: $API_KEY" "$gw/v1/products/p-0001" >/dev/null 2>&1 ||
	[ $SECONDS -gt $deadline ]; do sleep 1; done

# --- the schema registry: the daemons registered their schemas there
reg=http://127.0.0.1:$REGISTRY_HOST_PORT/apis/ccompat/v7
subjects=$(curl -sS -K - "$reg/subjects" <<<"user = \"saga-admin:$REGISTRY_PASSWORD_ADMIN\"" |
	python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' 2>/dev/null)
check "$([ "${subjects:-0}" -ge "$(ls schemas/*.avsc | wc -l)" ]; echo $?)" \
	"the daemons registered every schema in the registry (${subjects:-no} subjects)"
check "$([ "$(curl -s -o /dev/null -w '%{http_code}' "$reg/subjects")" = 401 ]; echo $?)" \
	"the registry refuses a client without credentials"

# --- the API and the saga, through the published port
GATEWAY_URL=$gw API_KEY=$API_KEY sub /usr/bin/python3 tests/compose/api.py
# The page and the overview: every daemon's consumer group, read through the gateway.
check "$(curl -fsS -D - -o /dev/null "$gw/ui/" | grep -qi "^content-security-policy: default-src 'none'"; echo $?)" \
	"the gateway serves the page at /ui/ with its Content-Security-Policy"
groups=$(curl -fsS -H "X-API-Key: $API_KEY" "$gw/v1/overview" |
	python3 -c 'import json,sys; print(" ".join(sorted(g["group"] for g in json.load(sys.stdin)["groups"] if g["up"])))')
check "$([ "$groups" = "gateway inventory notification order payment shipping" ]; echo $?)" \
	"the overview reads every daemon's metrics over the compose network (${groups:-none})"

# --- what the servers must refuse (a client on the compose network)
probe() { docker run -i --rm --network "$NET" saga-stand-in/probe:local "$@" 2>&1; }
out=$(probe timeout 20 kcat -b kafka:9092 -L -m 5 </dev/null)
check "$(grep -q 'Failed to acquire metadata' <<<"$out"; echo $?)" "Kafka refuses a client without SASL"
out=$(echo forged | probe sh -c "printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=payment\nsasl.password=%s\n' \"\$0\" >/tmp/c; timeout 20 kcat -F /tmp/c -b kafka:9092 -P -t order-events" "$KAFKA_PASSWORD_PAYMENT")
check "$(grep -q 'Topic authorization failed' <<<"$out"; echo $?)" "Kafka refuses payment's write to order-events"
out=$(probe redis-cli -h redis get orders:accepted </dev/null)
check "$(grep -q NOAUTH <<<"$out"; echo $?)" "Redis refuses a client without a password"
# What the saga wrote: the Confluent framing (magic byte 0), from the registry's ids.
first=$(echo "$KAFKA_PASSWORD_ADMIN" | probe sh -c "printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=admin\nsasl.password=%s\n' \"\$(cat)\" >/tmp/c; timeout 20 kcat -q -F /tmp/c -b kafka:9092 -C -t order-events -o beginning -c 5 -e -f '%s\n' 2>/dev/null | od -An -tx1 -N1" | tr -d ' \n')
check "$([ "$first" = 00 ]; echo $?)" "order-events holds the Confluent framing (first byte ${first:-none})"
out=$(docker run --rm --network "$NET" -e PGPASSWORD="$PAYMENTS_DB_PASSWORD" "$SAGA_IMAGE" \
	psql -h postgres -U payments -d orders -Atc 'SELECT 1' 2>&1)
check "$(grep -q 'no pg_hba.conf entry' <<<"$out"; echo $?)" "PostgreSQL refuses payments a connection to orders"

# --- a crash: the restart policy brings the daemon back, and the saga goes on
c=$(dc ps -q order)
restarts=$(docker inspect -f '{{.RestartCount}}' "$c")
kill -KILL "$(docker inspect -f '{{.State.Pid}}' "$c")"
deadline=$((SECONDS + 90))
until [ "$(docker inspect -f '{{.RestartCount}} {{.State.Health.Status}}' "$c")" = "$((restarts + 1)) healthy" ] ||
	[ $SECONDS -gt $deadline ]; do sleep 1; done
check "$([ "$(docker inspect -f '{{.RestartCount}}' "$c")" -gt "$restarts" ]; echo $?)" \
	"order, killed with SIGKILL, is restarted by its restart policy"
GATEWAY_URL=$gw API_KEY=$API_KEY sub /usr/bin/python3 tests/compose/api.py one after the crash

# --- the invariants, checked from inside the compose network
CHECK_SETTLE_S=60 dc --profile tools run --rm check >"$DIR/check.log" 2>&1
rc=$?
check "$rc" "check-invariants passes inside the compose network ($(grep -c '^ok' "$DIR/check.log") checks)"
[ "$rc" = 0 ] || tail -n 20 "$DIR/check.log" | sed 's/^/    /'

# --- the dashboard and the rules against the scraped metrics
PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_HOST_PORT sub /usr/bin/python3 tests/compose/dashboard.py

# --- the loadtest profile, briefly; its report lands in the mounted directory
dc --profile loadtest run --rm -e RATE=20 -e DURATION=10 -e DRAIN_S=60 loadtest >"$DIR/loadtest.log" 2>&1
rc=$?
check "$rc" "the loadtest profile runs ($(grep -o 'loadgen: .*' "$DIR/loadtest.log" | head -n 1))"
accepted=$(sed -nE 's/.*"accepted": ([0-9]+).*/\1/p' "$DIR/report/summary.json" 2>/dev/null)
check "$([ "${accepted:-0}" -ge 150 ] && [ -s "$DIR/report/accept.tsv" ] && [ -s "$DIR/report/e2e.tsv" ]; echo $?)" \
	"its report is in the mounted directory (${accepted:-no} orders accepted, per-order latencies)"

if [ "${COMPOSE_KEEP:-0}" = 1 ]; then
	echo "COMPOSE_KEEP=1: the stack stays up (docker-compose -p $PROJECT --env-file $DIR/env ...)"
	summary
	exit 0
fi

# --- down, and nothing left behind
down >"$DIR/down.log" 2>&1
check $? "docker-compose down -v"
left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l)
vols=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | wc -l)
check "$([ "$left" = 0 ] && [ "$vols" = 0 ]; echo $?)" "no container or volume is left ($left, $vols)"
native_after=$(native)
check "$([ "$native_after" = "$native_before" ]; echo $?)" \
	"the native stack is as it was (${native_before##* }, the same server processes)"
summary
[ "$failed" = 0 ]
