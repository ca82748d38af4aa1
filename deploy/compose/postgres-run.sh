#!/bin/sh
# The compose stack's PostgreSQL: a data directory made on first start, the
# superuser's password from POSTGRES_PASSWORD (for the init job), and over
# TCP each role only into the database of its own name (samerole), as in
# the native stack (deploy/local/postgres.sh); saga_reader where it has CONNECT.
set -eu
BIN=/usr/lib/postgresql/15/bin
if [ ! -f "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set (make compose-env)}"
	pw=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
	"$BIN/initdb" -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
		--pwfile="$pw" -E UTF8 --locale=C.UTF-8 >/dev/null
	rm -f "$pw"
	cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
unix_socket_directories = '/tmp'
max_connections = 200
shared_buffers = 256MB
autovacuum_naptime = 5s
checkpoint_timeout = 15min
max_wal_size = 4GB
wal_compression = lz4
CONF
fi
cat >"$PGDATA/pg_hba.conf" <<HBA
local all      postgres    peer
host  all      postgres    all scram-sha-256
host  all      saga_reader all scram-sha-256
host  samerole all         all scram-sha-256
HBA
exec "$BIN/postgres" -D "$PGDATA"
