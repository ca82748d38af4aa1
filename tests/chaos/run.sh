#!/usr/bin/env bash
# make chaos: the saga under crashes and freezes, judged from the clients'
# history (docs/operations.md, "Chaos").
#
# Two instances of every daemon run on the native stack (started here if it
# is not up). chaos-client sends RATE orders/s for DURATION s with
# Idempotency-Keys, retrying, and records every operation. Meanwhile two
# seeded fault loops run: one SIGKILLs a random daemon instance (a gateway
# too) every few seconds and restarts it after a random delay; the other, one
# fault at a time, freezes PostgreSQL, a broker and Redis with SIGSTOP for
# 10 to 30 s, stops PostgreSQL in immediate mode, SIGKILLs Redis, SIGKILLs a
# broker (three brokers: the leader of a saga partition) and restarts each,
# and produces poison records. Then every fault is lifted, the saga comes to
# rest, check-invariants and chaos-judge give the verdict, and the report
# goes to OUT_DIR/report.txt.
#
# Usage: tests/chaos/run.sh   with SEED (1), RATE (50), DURATION (120 s),
#   FAULTS (all, or a comma list of: kill-daemon kill-gateway kill-broker
#   freeze-postgres freeze-broker freeze-redis stop-postgres kill-redis
#   poison), FREEZE_S (10-30: the range of a freeze), INFRA_GAP_S (3-6: the
#   pause between two infrastructure faults), REQUIRE_ALL (1: fail unless
#   every kind was injected), BUILD_DIR.
# Ends with "chaos: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib.sh

BUILD_DIR=${BUILD_DIR:-build/release}
SEED=${SEED:-1}
RATE=${RATE:-50}
DURATION=${DURATION:-120}
FAULTS=${FAULTS:-all}
FREEZE_S=${FREEZE_S:-10-30}
INFRA_GAP_S=${INFRA_GAP_S:-3-6}
# 1: every kind of fault must have been injected (make test's short run).
REQUIRE_ALL=${REQUIRE_ALL:-0}
OUT=$RUN_DIR/chaos/seed-$SEED-$(date +%Y%m%d-%H%M%S)
export DAEMON_INSTANCES=2 BUILD_DIR
RANDOM=$SEED

mkdir -p "$OUT"
ln -sfn "$(basename "$OUT")" "$RUN_DIR/chaos/latest"
: >"$OUT/faults.tsv"
: >"$OUT/poison.tsv"
log() { printf '[chaos %s] %s\n' "$(date +%T)" "$*" | tee -a "$OUT/run.log"; }
now_ms() { date +%s%3N; }
# rand LO HI: a seeded integer in [LO, HI], in R. (Not in $(...): a
# subshell's RANDOM does not advance the caller's, so every draw would repeat.)
rand() { R=$(($1 + RANDOM % ($2 - $1 + 1))); }
enabled() { [ "$FAULTS" = all ] || [[ ",$FAULTS," = *",$1,"* ]]; }
fault() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$OUT/faults.tsv"; }

# pick WORD...: one of the words, drawn from the seeded RANDOM, in R.
pick() {
	local words=("$@")
	R=${words[RANDOM % ${#words[@]}]}
}

# Whatever happens to this script, nothing stays frozen.
thaw() {
	# shellcheck disable=SC2046 # lists of pids
	kill -CONT $(pg_pids) $(cat "$REDIS_DIR/redis.pid" 2>/dev/null) $(broker_pids) 2>/dev/null || true
}
cleanup() {
	thaw
	[ -z "${LOOPS:-}" ] || kill $LOOPS 2>/dev/null || true
	[ -z "${CLIENT:-}" ] || kill "$CLIENT" 2>/dev/null || true
}
trap cleanup EXIT


# --- the stack and two instances of every daemon ----------------------------
bash deploy/local/stack.sh status >/dev/null 2>&1 || bash deploy/local/stack.sh up >"$OUT/stack.log"
set -a
. "$RUN_DIR/stack.env"
set +a
bash deploy/local/daemons.sh start >"$OUT/daemons.log" 2>&1 ||
	{ tail -n 20 "$OUT/daemons.log"; exit 1; }
INSTANCES=$(bash deploy/local/daemons.sh status | cut -d: -f1 | tr '\n' ' ')
GATEWAYS=$(grep -o '^gateway[^ ]*' <<<"$(tr ' ' '\n' <<<"$INSTANCES")" | tr '\n' ' ')
log "seed $SEED, $RATE orders/s for $DURATION s, faults: $FAULTS, $KAFKA_BROKERS broker(s)"
log "instances: $INSTANCES"

gone() { ! pid_alive "$1"; }
# kcat as the Kafka admin.
kcat_admin() { kcat -F "$KAFKA_DIR/kcat.conf" -b "$KAFKA_BOOTSTRAP" "$@"; }
# restart INSTANCE: started again, ready (in the background of a loop).
restart() { bash deploy/local/daemons.sh start "$1" >>"$OUT/restarts.log" 2>&1 || log "restart of $1 failed"; }

# --- loop 1: SIGKILL a daemon instance every few seconds --------------------
kill_loop() {
	local end=$1 victim kind pidfile t0 n=0
	RANDOM=$((SEED * 7 + 1))
	while [ "$(now_ms)" -lt "$end" ]; do
		rand 3 8
		sleep "$R"
		n=$((n + 1))
		# shellcheck disable=SC2086 # a list of names
		pick $INSTANCES
		victim=$R
		# Every fifth one (the second first) is a gateway.
		# shellcheck disable=SC2086
		[ $((n % 5)) != 2 ] || { pick $GATEWAYS && victim=$R; }
		kind=kill-daemon
		[[ $victim = gateway* ]] && kind=kill-gateway
		enabled "$kind" || continue
		pidfile=$RUN_DIR/pids/${victim/\#/-}.pid
		pid_alive "$pidfile" || continue
		t0=$(now_ms)
		kill -KILL "$(cat "$pidfile")"
		wait_until 10 gone "$pidfile" || true
		log "SIGKILL $victim"
		rand 1 4
		sleep "$R"
		fault "$kind" "$victim" "$t0" "$(now_ms)"
		restart "$victim" &
	done
}

# --- loop 2: one infrastructure fault at a time ------------------------------
freeze() { # freeze KIND TARGET PIDS...
	local kind=$1 target=$2 t0 s
	shift 2
	rand "${FREEZE_S%-*}" "${FREEZE_S#*-}"
	s=$R
	t0=$(now_ms)
	kill -STOP "$@" 2>/dev/null || true
	log "SIGSTOP $target for $s s"
	sleep "$s"
	kill -CONT "$@" 2>/dev/null || true
	log "SIGCONT $target"
	fault "$kind" "$target" "$t0" "$(now_ms)"
}

infra_fault() {
	local kind=$1 t0 n pid
	case $kind in
	freeze-postgres) freeze "$kind" postgres $(pg_pids) ;;
	freeze-redis) freeze "$kind" redis "$(cat "$REDIS_DIR/redis.pid")" ;;
	freeze-broker)
		pick $(seq 1 "$KAFKA_BROKERS")
		n=$R
		freeze "$kind" "broker-$n" "$(bash deploy/local/kafka.sh pid "$n")" ;;
	stop-postgres)
		t0=$(now_ms)
		bash deploy/local/postgres.sh crash >/dev/null
		log "postgres stopped (immediate)"
		rand 2 6
		sleep "$R"
		fault "$kind" postgres "$t0" "$(now_ms)"
		bash deploy/local/postgres.sh start >>"$OUT/restarts.log" 2>&1 ;;
	kill-redis)
		t0=$(now_ms)
		kill -KILL "$(cat "$REDIS_DIR/redis.pid")"
		log "SIGKILL redis"
		rand 1 4
		sleep "$R"
		fault "$kind" redis "$t0" "$(now_ms)"
		bash deploy/local/redis.sh start >>"$OUT/restarts.log" 2>&1 ;;
	kill-broker)
		# With three brokers, the leader of a random saga partition.
		local topic=order-events part
		rand 0 $((KAFKA_PARTITIONS - 1))
		part=$R
		n=$(bash deploy/local/kafka.sh leader "$topic" "$part" || true)
		[ -n "$n" ] || n=1
		pid=$(bash deploy/local/kafka.sh pid "$n")
		t0=$(now_ms)
		kill -KILL "$pid"
		log "SIGKILL broker $n (leader of $topic/$part)"
		rand 3 10
		sleep "$R"
		fault "$kind" "broker-$n" "$t0" "$(now_ms)"
		bash deploy/local/kafka.sh start-node "$n" >>"$OUT/restarts.log" 2>&1 ||
			log "broker $n did not come back" ;;
	esac
}

infra_loop() {
	local end=$1 kinds=() kind i=0
	RANDOM=$((SEED * 13 + 5))
	for kind in freeze-postgres freeze-broker freeze-redis stop-postgres kill-redis kill-broker; do
		enabled "$kind" && kinds+=("$kind")
	done
	[ ${#kinds[@]} -gt 0 ] || return 0
	# Every kind once, in a seeded order, then again in another.
	while [ "$(now_ms)" -lt "$end" ]; do
		if [ $((i % ${#kinds[@]})) = 0 ]; then # a seeded shuffle (Fisher-Yates)
			local j k t
			for ((j = ${#kinds[@]} - 1; j > 0; j--)); do
				k=$((RANDOM % (j + 1)))
				t=${kinds[j]} kinds[j]=${kinds[k]} kinds[k]=$t
			done
		fi
		rand "${INFRA_GAP_S%-*}" "${INFRA_GAP_S#*-}"
		sleep "$R"
		[ "$(now_ms)" -lt "$end" ] || break
		infra_fault "${kinds[$((i % ${#kinds[@]}))]}"
		i=$((i + 1))
	done
}

# --- loop 3: a few poison records (dead letters are expected of these only) ---
poison_loop() {
	local end=$1 n value
	RANDOM=$((SEED * 17 + 3))
	enabled poison || return 0
	for n in 1 2 3; do
		rand 2 $(((end - $(now_ms)) / 3000 + 2))
		sleep "$R"
		value="chaos-poison-$SEED-$n"
		# Recorded first: a try that fails may still have reached the topic,
		# so it is tried again until it surely has (copies are harmless).
		echo "$value" >>"$OUT/poison.tsv"
		until printf '%s' "$value" | kcat_admin -P \
			-t order-requests -k chaos-poison 2>>"$OUT/run.log"; do
			sleep 1
		done
		log "poison record $value on order-requests"
	done
}

# --- the run -----------------------------------------------------------------
t_start=$(now_ms)
GATEWAY_URLS=$(for g in $GATEWAYS; do
	port=$GATEWAY_PORT
	port=$GATEWAY_PORT
	[ "$g" = gateway ] || port=$((GATEWAY_PORT + ${g#gateway-} - 1))
	printf 'http://127.0.0.1:%s,' "$port"
done)
# Keys and customers carry the run's name: runs never see each other's orders.
RUN_NAME=$SEED.$(date +%s)
SEED=$SEED RUN=$RUN_NAME RATE=$RATE DURATION=$DURATION OUT_DIR=$OUT GATEWAY_URLS=${GATEWAY_URLS%,} \
	"$BUILD_DIR/bin/chaos-client" >"$OUT/client.log" 2>&1 &
CLIENT=$!
# Faults stop 10 s before the orders do: the last ones have time to heal.
fault_end=$((t_start + (DURATION - 10) * 1000))
kill_loop "$fault_end" &
LOOPS=$!
infra_loop "$fault_end" &
LOOPS="$LOOPS $!"
poison_loop "$fault_end" &
LOOPS="$LOOPS $!"
wait $LOOPS || true
LOOPS=
log "faults over; waiting for the clients"
wait "$CLIENT" || log "chaos-client exited $?"
CLIENT=
tail -n 1 "$OUT/client.log" | tee -a "$OUT/run.log"
t_end=$(now_ms)

# --- everything back, then the verdict ----------------------------------------
thaw
bash deploy/local/stack.sh up >>"$OUT/restarts.log" 2>&1 || log "the stack did not come back"
bash deploy/local/daemons.sh start >>"$OUT/restarts.log" 2>&1 || log "the daemons did not come back"
# Every dead letter written since the run began (topic, value).
: >"$OUT/dlq.tsv"
for g in $KAFKA_PRINCIPALS; do
	kcat_admin -C -t "dlq.$g" -o "s@$t_start" -e -q \
		-f "dlq.$g\t%s\n" >>"$OUT/dlq.tsv" 2>>"$OUT/run.log" || true
done
passed=0
failed=0
if [ "$REQUIRE_ALL" = 1 ]; then
	missing=
	for kind in kill-daemon kill-gateway kill-broker freeze-postgres freeze-broker freeze-redis stop-postgres kill-redis; do
		enabled "$kind" && ! grep -q "^$kind	" "$OUT/faults.tsv" && missing+=" $kind"
	done
	enabled poison && [ "$(wc -l <"$OUT/poison.tsv")" -eq 0 ] && missing+=" poison"
	if [ -n "$missing" ]; then
		log "not injected in this run's time:$missing"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
fi
# Accepted orders must all be terminal within 120 s of the end.
if CHECK_SETTLE_S=120 "$BUILD_DIR/bin/check-invariants" >"$OUT/invariants.txt" 2>&1; then :; fi
passed=$((passed + $(grep -c '^ok ' "$OUT/invariants.txt" || true)))
failed=$((failed + $(grep -c '^FAIL' "$OUT/invariants.txt" || true)))
grep -q 'check-invariants: 0 violated' "$OUT/invariants.txt" || failed=$((failed + 1))
if RUN=$RUN_NAME OUT_DIR=$OUT "$BUILD_DIR/bin/chaos-judge" >"$OUT/judge.txt" 2>&1; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi
{
	echo "chaos run: seed $SEED, $RATE orders/s for $DURATION s, $KAFKA_BROKERS broker(s), faults: $FAULTS"
	echo "faults injected by kind:"
	cut -f1 "$OUT/faults.tsv" | sort | uniq -c | sed 's/^/  /'
	echo "poison records: $(wc -l <"$OUT/poison.tsv")"
	echo
	cat "$OUT/judge.txt"
	echo
	echo "check-invariants (after the end, $(((t_end - t_start) / 1000)) s after the start):"
	sed 's/^/  /' "$OUT/invariants.txt"
	echo
	echo "files: $OUT"
	echo "chaos: $passed passed, $failed failed"
} >"$OUT/report.txt"
cat "$OUT/report.txt"
[ "$failed" -eq 0 ]
