# Shared settings and helpers for the native local stack. Sourced, not run.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
CACHE_DIR=${CACHE_DIR:-$ROOT/.cache}

KAFKA_VERSION=3.9.1
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
KAFKA_TLS_PORT=${KAFKA_TLS_PORT:-19094}
# Where the broker listens and what it tells clients (a container: 0.0.0.0, kafka).
KAFKA_LISTEN_HOST=${KAFKA_LISTEN_HOST:-127.0.0.1}
KAFKA_ADVERTISED_HOST=${KAFKA_ADVERTISED_HOST:-127.0.0.1}
# sasl (the default): SASL/SCRAM-SHA-512 and ACLs, on 127.0.0.1:KAFKA_PORT and
# with TLS on KAFKA_TLS_PORT. plaintext: no authentication and no ACLs; only
# when asked for (KAFKA_SECURITY=plaintext make up), e.g. to measure SASL's cost.
KAFKA_SECURITY=${KAFKA_SECURITY:-sasl}
KAFKA_HEAP=${KAFKA_HEAP:-768m}
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-6}
# The broker's jars: fetched from Maven Central into .cache (a container
# points this at its own, e.g. /opt/kafka/libs in the apache/kafka image).
KAFKA_LIB=${KAFKA_LIB:-$CACHE_DIR/kafka-$KAFKA_VERSION/lib}
# on (the default): a TLS listener on KAFKA_TLS_PORT besides the SASL one.
# off: SASL/SCRAM only (the compose stack, whose clients share a private network).
KAFKA_TLS_LISTENER=${KAFKA_TLS_LISTENER:-on}
KAFKA_DIR=$RUN_DIR/kafka
# 1 (the default): one combined broker and controller. 3: three KRaft nodes,
# node N on KAFKA_PORT + 10 * (N - 1) (and the same for the controller and
# TLS ports), replication factor 3, min.insync.replicas 2, no unclean
# leader election. Each mode is its own cluster: a stack is made in one, and
# later commands (make down, make test, ...) follow what it was made with.
KAFKA_BROKERS=${KAFKA_BROKERS:-$(cat "$KAFKA_DIR/brokers" 2>/dev/null || echo 1)}
case $KAFKA_BROKERS in
1 | 3) ;;
*) echo "KAFKA_BROKERS must be 1 or 3, not '$KAFKA_BROKERS'" >&2; exit 2 ;;
esac
# kafka_node_port BASE N: the port of node N for a port of node 1.
kafka_node_port() { echo $(($1 + 10 * ($2 - 1))); }
# kafka_bootstrap BASE: every node's address, comma-separated.
kafka_bootstrap() {
	local n out=
	for n in $(seq 1 "$KAFKA_BROKERS"); do
		out+=${out:+,}127.0.0.1:$(kafka_node_port "$1" "$n")
	done
	echo "$out"
}

PG_PORT=${PG_PORT:-15432}
PG_DIR=$RUN_DIR/postgres
PG_DATA=$PG_DIR/data
PG_SOCK=$PG_DIR/sock

REDIS_PORT=${REDIS_PORT:-16379}
REDIS_DIR=$RUN_DIR/redis
REDIS_LISTEN_HOST=${REDIS_LISTEN_HOST:-127.0.0.1}

# The schema registry (deploy/local/registry.sh). SCHEMA_REGISTRY=on (make up
# SCHEMA_REGISTRY=on) starts it and has the daemons write the Confluent
# framing with its ids; off (the default): Avro single-object encoding and
# no registry. read (daemons.sh only): the daemons read the Confluent
# framing through the registry but still write single-object encoding, the
# first step of switching a running stack. Like KAFKA_BROKERS, later
# commands follow what the stack was made with (.run/schema-registry)
# unless told otherwise.
SCHEMA_REGISTRY=${SCHEMA_REGISTRY:-$(cat "$RUN_DIR/schema-registry" 2>/dev/null || echo off)}
case $SCHEMA_REGISTRY in
on | off | read) ;;
*) echo "SCHEMA_REGISTRY must be on, read or off, not '$SCHEMA_REGISTRY'" >&2; exit 2 ;;
esac
REGISTRY_VERSION=3.0.9
REGISTRY_PORT=${REGISTRY_PORT:-18081}
REGISTRY_LISTEN_HOST=${REGISTRY_LISTEN_HOST:-127.0.0.1}
REGISTRY_HEAP=${REGISTRY_HEAP:-256m}
REGISTRY_DIR=$RUN_DIR/registry
REGISTRY_HOME=${REGISTRY_HOME:-$CACHE_DIR/apicurio-registry-$REGISTRY_VERSION}

GATEWAY_PORT=${GATEWAY_PORT:-8080}
# Every generated password and key (mode 600); nothing else holds them but
# the files made from it for one reader each (stack.env, server.properties).
SECRETS=$RUN_DIR/secrets.env
READY_TIMEOUT=${READY_TIMEOUT:-90}

# secret NAME: NAME's value in the secrets file, generated (random) if missing.
secret() {
	local v
	mkdir -p "$RUN_DIR"
	[ -f "$SECRETS" ] || (umask 077 && : >"$SECRETS")
	chmod 600 "$SECRETS"
	v=$(grep "^$1=" "$SECRETS" | head -n 1 | cut -d= -f2- || true)
	if [ -z "$v" ]; then
		v=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
		echo "$1=$v" >>"$SECRETS"
	fi
	printf '%s\n' "$v"
}

# secrets_from_env PREFIX: in a container, the secrets file is the
# environment's PREFIX* variables (compose passes them from .env).
secrets_from_env() {
	mkdir -p "$RUN_DIR"
	(umask 077 && env | grep "^$1" >"$SECRETS" || true)
}

say()  { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] %s\n' "$*" >&2; }

# fail COMPONENT LOGFILE MESSAGE: name the component, show its log tail, exit.
fail() {
	warn "$1: $3"
	if [ -n "$2" ] && [ -f "$2" ]; then
		warn "last lines of $2:"
		tail -n 30 "$2" >&2
	fi
	exit 1
}

pg_bindir() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
	done
	return 1
}

# as_pg CMD...: PostgreSQL refuses to run as root, so run it as 'postgres'.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# pid_alive PIDFILE: its process runs (a zombie, killed but not yet reaped, does not).
pid_alive() {
	local pid
	[ -f "$1" ] && pid=$(head -n 1 "$1") && kill -0 "$pid" 2>/dev/null &&
		! grep -q '^[0-9]* (.*) Z' "/proc/$pid/stat" 2>/dev/null
}

# The servers' processes, for fault injection and measurements:
# pg_pids: the postmaster, then its children (backends and helpers);
# broker_pids: every Kafka node's.
pg_pids() {
	local pm
	pm=$(bash "$ROOT/deploy/local/postgres.sh" pid 2>/dev/null) || return 0
	echo "$pm" $(pgrep -P "$pm" || true)
}
broker_pids() {
	local n
	for n in $(seq 1 "$KAFKA_BROKERS"); do bash "$ROOT/deploy/local/kafka.sh" pid "$n" 2>/dev/null || true; done
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

# ready_or_dead PIDFILE CHECK...: for wait_until: succeeds when CHECK does,
# and also (to end the wait early) when the process is gone.
ready_or_dead() {
	local pidfile=$1
	shift
	"$@" && return 0
	pid_alive "$pidfile" || return 0
	return 1
}

# stop_pidfile NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pidfile() {
	local pid i
	pid_alive "$2" || { rm -f "$2"; return 0; }
	pid=$(head -n 1 "$2")
	kill "$pid" 2>/dev/null || true
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		warn "$1 did not stop within 30 s; killing it"
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$2"
	say "$1 stopped"
}

# The services (deploy/services.conf): name database admin-port settings.
MANIFEST=$ROOT/deploy/services.conf
manifest() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$MANIFEST"; }

# Kafka principals: one per service (order#2 is the order principal too).
KAFKA_PRINCIPALS=$(manifest | awk '{ n = $1; sub(/#.*/, "", n); print n }' | awk '!seen[$1]++')

# Databases: one per service that has one, each with its own login role of
# the same name, plus the schema registry's and two for the integration tests.
# Format: ENV_PREFIX database (the prefix of <PREFIX>_DATABASE_URL: the
# service's name in capitals).
DATABASES="$(manifest | awk '$2 != "-" { n = $1; sub(/#.*/, "", n); print toupper(n), $2 }' |
	awk '!seen[$1]++')
REGISTRY schema_registry
TEST saga_test
TEST2 saga_test2"
