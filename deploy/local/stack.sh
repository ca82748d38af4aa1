#!/usr/bin/env bash
# The native local stack: Kafka (KRaft), PostgreSQL and Redis (and with
# SCHEMA_REGISTRY=on the schema registry) on the project's own ports under
# .run/, the saga's topics, and .run/stack.env.
# Usage: stack.sh up|down|status     (BUILD_DIR names the build with bin/topics)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HERE=$(dirname "$0")
BUILD_DIR=${BUILD_DIR:-build/release}
ENV_FILE=$RUN_DIR/stack.env

write_env() {
	local prefix db reader name upper tmp=$ENV_FILE.tmp
	(umask 077 && : >"$tmp")
	{
		echo "# Written by deploy/local/stack.sh; source it: . .run/stack.env"
		echo "GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT"
		echo "API_KEY=$(grep '^API_KEY=' "$RUN_DIR/secrets.env" | cut -d= -f2)"
		echo "LIMITED_API_KEY=$(grep '^LIMITED_API_KEY=' "$RUN_DIR/secrets.env" | cut -d= -f2)"
		echo "KAFKA_BOOTSTRAP=$(kafka_bootstrap "$KAFKA_PORT")"
		echo "KAFKA_BROKERS=$KAFKA_BROKERS"
		if [ "$KAFKA_SECURITY" = sasl ]; then
			# Tools and tests are the admin principal; each daemon is its own
			# (<NAME>_KAFKA_PASSWORD, deploy/local/daemons.sh).
			echo "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"
			echo "KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
			echo "KAFKA_SASL_USERNAME=admin"
			echo "KAFKA_SASL_PASSWORD=$(secret KAFKA_PASSWORD_ADMIN)"
			echo "KAFKA_TLS_BOOTSTRAP=$(kafka_bootstrap "$KAFKA_TLS_PORT")"
			echo "KAFKA_SSL_CA_LOCATION=$KAFKA_DIR/tls/ca.pem"
			for name in $KAFKA_PRINCIPALS; do
				upper=$(tr '[:lower:]' '[:upper:]' <<<"$name")
				echo "${upper}_KAFKA_PASSWORD=$(secret "KAFKA_PASSWORD_$upper")"
			done
		else
			echo "KAFKA_SECURITY_PROTOCOL=PLAINTEXT"
		fi
		# Redis users (deploy/local/redis.sh): the admin for tools and tests,
		# the gateway's own, and the checker's read-only one.
		echo "REDIS_URL=redis://default:$(secret REDIS_PASSWORD_ADMIN)@127.0.0.1:$REDIS_PORT/0"
		echo "GATEWAY_REDIS_URL=redis://gateway:$(secret REDIS_PASSWORD_GATEWAY)@127.0.0.1:$REDIS_PORT/0"
		echo "READER_REDIS_URL=redis://checker:$(secret REDIS_PASSWORD_CHECKER)@127.0.0.1:$REDIS_PORT/0"
		# The schema registry (deploy/local/registry.sh), whether it runs or
		# not: tools and tests are its admin, the daemons saga-services.
		echo "REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
		echo "REGISTRY_ADMIN_PASSWORD=$(secret REGISTRY_PASSWORD_ADMIN)"
		echo "REGISTRY_SERVICES_PASSWORD=$(secret REGISTRY_PASSWORD_SERVICES)"
		echo "REGISTRY_READER_PASSWORD=$(secret REGISTRY_PASSWORD_READER)"
		if [ "$SCHEMA_REGISTRY" != off ]; then
			echo "SCHEMA_REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
			echo "SCHEMA_REGISTRY_USER=saga-admin"
			echo "SCHEMA_REGISTRY_PASSWORD=$(secret REGISTRY_PASSWORD_ADMIN)"
		fi
		echo "PG_ADMIN_SOCKET=$PG_SOCK"
		echo "PG_PORT=$PG_PORT"
		reader=$(secret PG_PASSWORD_READER)
		while read -r prefix db; do
			echo "${prefix}_DATABASE_URL=postgresql://$db:$(secret "PG_PASSWORD_$prefix")@127.0.0.1:$PG_PORT/$db"
			# The same database as the read-only saga_reader (check-invariants).
			[[ $prefix = TEST* || $prefix = REGISTRY ]] ||
				echo "READER_${prefix}_DATABASE_URL=postgresql://saga_reader:$reader@127.0.0.1:$PG_PORT/$db"
		done <<<"$DATABASES"
	} >"$tmp"
	mv "$tmp" "$ENV_FILE"
}

# Every secret the servers need, made before they start in parallel.
ensure_secrets() {
	local name prefix db
	secret KAFKA_PASSWORD_ADMIN >/dev/null
	secret KAFKA_PASSWORD_CONTROLLER >/dev/null
	secret PG_PASSWORD_READER >/dev/null
	secret REDIS_PASSWORD_ADMIN >/dev/null
	secret REDIS_PASSWORD_GATEWAY >/dev/null
	secret REDIS_PASSWORD_CHECKER >/dev/null
	secret REGISTRY_PASSWORD_ADMIN >/dev/null
	secret REGISTRY_PASSWORD_SERVICES >/dev/null
	secret REGISTRY_PASSWORD_READER >/dev/null
	for name in $KAFKA_PRINCIPALS; do
		secret "KAFKA_PASSWORD_$(tr '[:lower:]' '[:upper:]' <<<"$name")" >/dev/null
	done
	while read -r prefix db; do
		secret "PG_PASSWORD_$prefix" >/dev/null
	done <<<"$DATABASES"
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
	ensure_secrets
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
	echo "$SCHEMA_REGISTRY" >"$RUN_DIR/schema-registry"
	if [ "$SCHEMA_REGISTRY" != off ]; then
		"$HERE/registry.sh" start || { warn "the schema registry did not come up"; exit 1; }
	fi
	write_env
	# As the admin principal (stack.env); the rights of the services'
	# principals come from deploy/kafka-acls.conf.
	(
		set -a
		. "$ENV_FILE"
		KAFKA_PARTITIONS=$KAFKA_PARTITIONS
		KAFKA_REPLICATION=$KAFKA_BROKERS
		acls=()
		[ "$KAFKA_SECURITY" = sasl ] && acls=("$ROOT/deploy/kafka-acls.conf")
		"$BUILD_DIR/bin/topics" "$ROOT/deploy/topics.conf" "$MANIFEST" "${acls[@]}"
	) >"$RUN_DIR/logs/topics.log" 2>&1 ||
		fail topics "$RUN_DIR/logs/topics.log" "could not create the topics"
	say "topics: $(grep -c "^created topic" "$RUN_DIR/logs/topics.log" || true) created, $(grep -c " exists$" "$RUN_DIR/logs/topics.log" || true) already there"
	grep '^acls:' "$RUN_DIR/logs/topics.log" | sed 's/^/[stack] kafka /' || true
	say "stack ready in $((SECONDS - t0)) s; settings in $ENV_FILE (mode 600; secrets shown as ***):"
	# No secret on the screen: keys and passwords stay in the file.
	grep -v -e '^#' -e PASSWORD "$ENV_FILE" |
		sed -E -e 's#(://[^:/@]+):[^@]*@#\1:***@#' -e 's#^((LIMITED_)?API_KEY)=.*#\1=***#' -e 's/^/  /'
}

down() {
	"$HERE/registry.sh" stop
	"$HERE/kafka.sh" stop
	"$HERE/redis.sh" stop
	"$HERE/postgres.sh" stop
}

status() {
	local rc=0
	"$HERE/kafka.sh" status || rc=1
	"$HERE/postgres.sh" status || rc=1
	"$HERE/redis.sh" status || rc=1
	if [ "$SCHEMA_REGISTRY" != off ]; then "$HERE/registry.sh" status || rc=1; fi
	return $rc
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
