#!/usr/bin/env bash
# Starts and stops the project's daemons against the native stack, with their
# settings from .run/stack.env; logs go to .run/logs/<name>.log.
# Usage: daemons.sh start|stop|status [INSTANCE...]   (all of them by default)
#   BUILD_DIR names the build; KAFKA_TLS=1 connects them to Kafka over TLS;
#   DAEMON_INSTANCES=N runs N instances of every daemon (name#2 ... name#N:
#   admin port +10 each, the gateway's API port +1 each); SCHEMA_REGISTRY=on
#   has them register the schemas and write the Confluent framing, =read
#   only read it (docs/operations.md, "The schema registry").
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${BUILD_DIR:-build/release}
PIDS=$RUN_DIR/pids

# The instances to run: the manifest's lines, plus name#2 ... name#N of each
# daemon when DAEMON_INSTANCES=N, then only those named on the command line.
services() {
	manifest | awk -v n="${DAEMON_INSTANCES:-1}" -v gw="$GATEWAY_PORT" -v only="$ONLY" '
		function pick(line, name) { if (only == "" || index(" " only " ", " " name " ")) print line }
		{ lines[NR] = $0; have[$1] = 1 }
		END {
			for (i = 1; i <= NR; i++) {
				split(lines[i], f, " ")
				pick(lines[i], f[1])
				if (f[1] ~ /#/) continue
				for (k = 2; k <= n; k++) {
					name = f[1] "#" k
					if (name in have) continue
					extra = ""
					for (j = 4; j <= length(f); j++) extra = extra " " f[j]
					if (f[1] == "gateway") extra = extra " GATEWAY_PORT=" (gw + k - 1)
					pick(name " " f[2] " " (f[3] + 10 * (k - 1)) extra, name)
				}
			}
		}'
}

# "order#2" is a second instance of the order daemon: program order, files order-2.
program() { echo "${1%%#*}"; }
instance() { echo "${1/\#/-}"; }

start() {
	[ -f "$RUN_DIR/stack.env" ] || fail daemons "" "the stack is not up (make stack-up)"
	set -a
	. "$RUN_DIR/stack.env"
	set +a
	# KAFKA_TLS=1: the daemons reach Kafka over TLS (SASL_SSL, the stack's CA).
	if [ "${KAFKA_TLS:-0}" = 1 ]; then
		[ -n "${KAFKA_TLS_BOOTSTRAP:-}" ] || fail daemons "" "KAFKA_TLS=1 needs a broker with TLS (KAFKA_SECURITY=sasl)"
		KAFKA_BOOTSTRAP=$KAFKA_TLS_BOOTSTRAP
		KAFKA_SECURITY_PROTOCOL=SASL_SSL
	fi
	mkdir -p "$PIDS" "$RUN_DIR/logs"
	# The gateway's overview: every instance's admin port, by consumer group.
	METRICS_TARGETS=$(ONLY='' services | awk '{ g = $1; sub(/#.*/, "", g); printf "%s%s=127.0.0.1:%s", (NR > 1 ? "," : ""), g, $3 }')
	local name db port extra url bin prefix
	while read -r name db port extra; do
		bin=$(program "$name")
		name=$(instance "$name")
		if pid_alive "$PIDS/$name.pid"; then
			say "$name already running"
			continue
		fi
		url=
		prefix=$(tr '[:lower:]' '[:upper:]' <<<"$bin")
		[ "$db" = - ] || url=$(eval echo "\${${prefix}_DATABASE_URL}")
		# In the environment, not on a command line: ps shows no secret.
		(
			settings=$(eval echo "$extra")
			# A daemon gets only its own secrets: nothing else of stack.env
			# (other services' passwords, the admin's) is in its environment.
			for v in $(grep -o '^[A-Z0-9_]*=' "$RUN_DIR/stack.env" | tr -d =); do
				case $v in
				KAFKA_BOOTSTRAP | KAFKA_SECURITY_PROTOCOL | KAFKA_SASL_MECHANISM | KAFKA_SSL_CA_LOCATION) ;;
				*) export -n "$v" ;;
				esac
			done
			export DATABASE_URL="$url" ADMIN_PORT="$port"
			if [ "${KAFKA_SECURITY_PROTOCOL:-}" != PLAINTEXT ]; then
				# The service's own Kafka principal, not the tools' admin.
				export KAFKA_SASL_USERNAME="$bin"
				KAFKA_SASL_PASSWORD=$(eval echo "\${${prefix}_KAFKA_PASSWORD:-}")
				export KAFKA_SASL_PASSWORD
			fi
			# shellcheck disable=SC2086 # settings is a list of NAME=value words
			if [ "$SCHEMA_REGISTRY" != off ]; then
				export SCHEMA_REGISTRY_URL="$REGISTRY_URL" SCHEMA_REGISTRY_USER=saga-services \
					SCHEMA_REGISTRY_PASSWORD="$REGISTRY_SERVICES_PASSWORD"
				export SCHEMA_REGISTRY_WRITE=$([ "$SCHEMA_REGISTRY" = on ] && echo true || echo false)
			else
				unset SCHEMA_REGISTRY_URL SCHEMA_REGISTRY_USER SCHEMA_REGISTRY_PASSWORD
			fi
			[ -z "$settings" ] || export $settings
			exec nohup "$ROOT/$BUILD_DIR/bin/$bin" </dev/null >>"$RUN_DIR/logs/$name.log" 2>&1
		) &
		echo $! >"$PIDS/$name.pid"
	done < <(services)
	while read -r name db port extra; do
		name=$(instance "$name")
		wait_until "$READY_TIMEOUT" ready_or_dead "$PIDS/$name.pid" \
			curl -fsS "http://127.0.0.1:$port/readyz" ||
			fail "$name" "$RUN_DIR/logs/$name.log" "not ready after ${READY_TIMEOUT}s"
		pid_alive "$PIDS/$name.pid" || fail "$name" "$RUN_DIR/logs/$name.log" "exited during startup"
		curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null ||
			fail "$name" "$RUN_DIR/logs/$name.log" "not ready"
		say "$name ready (admin http://127.0.0.1:$port)"
	done < <(services)
}

stop() {
	local name db port extra pidfile
	[ -d "$PIDS" ] || return 0
	# Reverse order of start.
	while read -r name db port extra; do
		name=$(instance "$name")
		stop_pidfile "$name" "$PIDS/$name.pid"
	done < <(services | tac)
	# Instances started with a larger DAEMON_INSTANCES than this call's.
	if [ -z "$ONLY" ]; then
		for pidfile in "$PIDS"/*.pid; do
			[ -e "$pidfile" ] || continue
			name=$(basename "$pidfile" .pid)
			stop_pidfile "$name" "$pidfile"
		done
	fi
}

status() {
	local name db port extra rc=0
	while read -r name db port extra; do
		name=$(instance "$name")
		if pid_alive "$PIDS/$name.pid" && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
			echo "$name: ready (admin http://127.0.0.1:$port)"
		else
			echo "$name: down"
			rc=1
		fi
	done < <(services)
	return $rc
}

# Instances are named as in the manifest (order#2) or as their files (order-2).
ONLY=$(for a in "${@:2}"; do echo "${a/-/#}"; done | tr '\n' ' ')
ONLY=${ONLY% }
case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
