#!/usr/bin/env bash
# PostgreSQL for the native stack: its own data directory and port, one
# database and one login role per service (passwords generated on first start
# into .run/secrets.env, never in source).
# Usage: postgres.sh start|stop|status, crash (an immediate stop) and pid
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BIN=$(pg_bindir) || fail postgres "" "no PostgreSQL server found; run deploy/local/install.sh"
LOG=$PG_DIR/postgres.log

ready() {
	as_pg "$BIN/pg_isready" -q -h "$PG_SOCK" -p "$PG_PORT"
}

psql_admin() {
	PGOPTIONS="-c client_min_messages=warning" as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres "$@"
}

init() {
	[ -f "$PG_DATA/PG_VERSION" ] && return 0
	say "initialising PostgreSQL data directory $PG_DATA"
	mkdir -p "$PG_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
	as_pg "$BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
		-E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
		fail postgres "$PG_DIR/initdb.log" "initdb failed"
	as_pg mkdir -p "$PG_SOCK"
	cat >>"$PG_DATA/postgresql.conf" <<CONF
# local stack settings (deploy/local/postgres.sh)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 200
shared_buffers = 256MB
wal_level = logical
max_wal_size = 2GB
fsync = on
synchronous_commit = on
log_min_messages = warning
log_connections = off
CONF
	write_hba
	cat >"$PG_DATA/pg_ident.conf" <<IDENT
admin postgres postgres
admin root postgres
IDENT
}

# Local socket logins as the OS user 'postgres' only; over TCP, with a
# password, a role reaches only the database of its own name (samerole), as
# its CONNECT privilege says too (deploy/provision-role.sql); the read-only
# saga_reader reaches the databases it has CONNECT on.
write_hba() {
	cat >"$PG_DATA/pg_hba.conf" <<HBA
local all      postgres    peer map=admin
host  all      saga_reader 127.0.0.1/32 scram-sha-256
host  samerole all         127.0.0.1/32 scram-sha-256
HBA
	[ "$(id -u)" = 0 ] && chown postgres: "$PG_DATA/pg_hba.conf"
	chmod 600 "$PG_DATA/pg_hba.conf"
}

# One role and database per service, created only when missing.
provision() {
	local prefix db
	write_hba # also for a data directory made before this rule
	# Passwords go in on stdin (\set), not as arguments that ps would show.
	{ printf '\\set pw %s\n' "$(secret PG_PASSWORD_READER)"; cat "$ROOT/deploy/provision-reader.sql"; } |
		psql_admin -f -
	while read -r prefix db; do
		{ printf '\\set pw %s\n' "$(secret "PG_PASSWORD_$prefix")"; cat "$ROOT/deploy/provision-role.sql"; } |
			psql_admin -v role="$db" -f -
	done <<<"$DATABASES"
	# Settings for the saga's write load, applied to existing data directories
	# too: autovacuum looks often (the outboxes are queues); checkpoints are
	# rarer and full-page images compressed, so far less WAL per order.
	psql_admin -c "ALTER SYSTEM SET autovacuum_naptime = '5s'" \
		-c "ALTER SYSTEM SET checkpoint_timeout = '15min'" \
		-c "ALTER SYSTEM SET max_wal_size = '4GB'" \
		-c "ALTER SYSTEM SET wal_compression = 'lz4'" \
		-c "SELECT pg_reload_conf()" >/dev/null # pg_hba.conf too
}

start() {
	init
	if ready; then
		say "postgres already running on 127.0.0.1:$PG_PORT"
	else
		say "starting postgres on 127.0.0.1:$PG_PORT"
		as_pg "$BIN/pg_ctl" -D "$PG_DATA" -l "$LOG" -w -t "$READY_TIMEOUT" start >/dev/null ||
			fail postgres "$LOG" "the server did not start"
	fi
	wait_until "$READY_TIMEOUT" ready || fail postgres "$LOG" "not ready after ${READY_TIMEOUT}s"
	provision
	say "postgres ready"
}

stop() {
	if [ -f "$PG_DATA/postmaster.pid" ]; then
		as_pg "$BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
		say "postgres stopped"
	fi
}

# An immediate stop (no checkpoint, clients cut off): what a crash leaves,
# recovered from the WAL on the next start. For fault tests.
crash() {
	if [ -f "$PG_DATA/postmaster.pid" ]; then
		as_pg "$BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
		say "postgres stopped (immediate)"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
crash) crash ;;
pid) head -n 1 "$PG_DATA/postmaster.pid" ;;
status) if ready; then echo "postgres: ready on 127.0.0.1:$PG_PORT"; else echo "postgres: down"; exit 1; fi ;;
*) echo "usage: $0 start|stop|status|crash|pid" >&2; exit 2 ;;
esac
