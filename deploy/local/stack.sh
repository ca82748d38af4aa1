#!/usr/bin/env bash
# The native local stack: Kafka (KRaft), PostgreSQL and Redis on the project's
# own ports under .run/, the saga's topics, and .run/stack.env.
# Usage: stack.sh up|down|status     (BUILD_DIR names the build with bin/topics)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HERE=$(dirname "$0")
BUILD_DIR=${BUILD_DIR:-build/release}
ENV_FILE=$RUN_DIR/stack.env

write_env() {
	local prefix db pw tmp=$ENV_FILE.tmp
	{
		echo "# Written by deploy/local/stack.sh; source it: . .run/stack.env"
		echo "GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT"
		echo "API_KEY=$(grep '^API_KEY=' "$RUN_DIR/secrets.env" | cut -d= -f2)"
		echo "LIMITED_API_KEY=$(grep '^LIMITED_API_KEY=' "$RUN_DIR/secrets.env" | cut -d= -f2)"
		echo "KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT"
		echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
		echo "PG_ADMIN_SOCKET=$PG_SOCK"
		echo "PG_PORT=$PG_PORT"
		while read -r prefix db; do
			pw=$(grep "^PG_PASSWORD_$prefix=" "$RUN_DIR/secrets.env" | cut -d= -f2)
			echo "${prefix}_DATABASE_URL=postgresql://$db:$pw@127.0.0.1:$PG_PORT/$db"
		done <<<"$DATABASES"
	} >"$tmp"
	chmod 600 "$tmp"
	mv "$tmp" "$ENV_FILE"
}

ensure_api_key() {
	touch "$RUN_DIR/secrets.env"
	chmod 600 "$RUN_DIR/secrets.env"
	grep -q '^API_KEY=' "$RUN_DIR/secrets.env" ||
		echo "API_KEY=dev-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" >>"$RUN_DIR/secrets.env"
	# A second key with a low rate limit (3/s), to see 429 at work.
	grep -q '^LIMITED_API_KEY=' "$RUN_DIR/secrets.env" ||
		echo "LIMITED_API_KEY=slow-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" >>"$RUN_DIR/secrets.env"
}

up() {
	local t0=$SECONDS
	mkdir -p "$RUN_DIR/logs"
	[ -x "$BUILD_DIR/bin/topics" ] || fail topics "" "$BUILD_DIR/bin/topics is not built (run make)"
	"$HERE/kafka.sh" fetch
	ensure_api_key
	# The three servers start in parallel; each waits for its own readiness.
	"$HERE/postgres.sh" start >"$RUN_DIR/logs/postgres-start.log" 2>&1 &
	local pg=$!
	"$HERE/redis.sh" start >"$RUN_DIR/logs/redis-start.log" 2>&1 &
	local rd=$!
	"$HERE/kafka.sh" start >"$RUN_DIR/logs/kafka-start.log" 2>&1 &
	local kf=$!
	local failed=0
	wait $pg || failed=1
	cat "$RUN_DIR/logs/postgres-start.log"
	wait $rd || failed=1
	cat "$RUN_DIR/logs/redis-start.log"
	wait $kf || failed=1
	cat "$RUN_DIR/logs/kafka-start.log"
	[ $failed = 0 ] || { warn "the stack did not come up"; exit 1; }
	KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT KAFKA_PARTITIONS=$KAFKA_PARTITIONS \
		"$BUILD_DIR/bin/topics" "$ROOT/deploy/topics.conf" "$MANIFEST" >"$RUN_DIR/logs/topics.log" 2>&1 ||
		fail topics "$RUN_DIR/logs/topics.log" "could not create the topics"
	say "topics: $(grep -c created "$RUN_DIR/logs/topics.log" || true) created, $(grep -c exists "$RUN_DIR/logs/topics.log" || true) already there"
	write_env
	say "stack ready in $((SECONDS - t0)) s; settings in $ENV_FILE (mode 600; secrets shown as ***):"
	# No secret on the screen: keys and passwords stay in the file.
	grep -v -e '^#' -e PASSWORD "$ENV_FILE" |
		sed -E -e 's#(://[^:/@]+):[^@]*@#\1:***@#' -e 's#^((LIMITED_)?API_KEY)=.*#\1=***#' -e 's/^/  /'
}

down() {
	"$HERE/kafka.sh" stop
	"$HERE/redis.sh" stop
	"$HERE/postgres.sh" stop
}

status() {
	local rc=0
	"$HERE/kafka.sh" status || rc=1
	"$HERE/postgres.sh" status || rc=1
	"$HERE/redis.sh" status || rc=1
	return $rc
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
