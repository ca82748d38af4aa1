#!/usr/bin/env bash
# The postgres stand-in's entrypoint: what compose.yaml uses of the official
# image's docker-entrypoint.sh. On the first start (no PG_VERSION in PGDATA):
# initdb with POSTGRES_USER (postgres) and POSTGRES_PASSWORD and
# POSTGRES_INITDB_ARGS; listen on every interface and accept passwords from
# any host (POSTGRES_HOST_AUTH_METHOD, scram-sha-256); then each file of
# /docker-entrypoint-initdb.d in order against a server on the local socket
# only (*.sh sourced, or run when executable; *.sql through psql). Then, and
# on every later start, postgres with the arguments given.
set -Eeo pipefail
[ "${1:0:1}" = - ] && set -- postgres "$@"
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
	POSTGRES_USER=${POSTGRES_USER:-postgres}
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	# shellcheck disable=SC2086 # the arguments are words, as the official image reads them
	initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" $POSTGRES_INITDB_ARGS >/dev/null
	rm -f "$pwfile"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
	printf 'host all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" \
		start >/dev/null
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
		*.sql) psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -f "$f" ;;
		*) [ -e "$f" ] && echo "docker-entrypoint.sh: ignoring $f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "docker-entrypoint.sh: PostgreSQL init process complete; ready for start up."
fi
exec "$@"
