#!/bin/sh
# The compose stack's one-shot set-up: one database and login role per
# service that has one (deploy/services.conf; its password from the
# environment as <DATABASE>_DB_PASSWORD) and for the schema registry, the
# read-only saga_reader, the
# saga's topics, each service's dead-letter topic and the services' Kafka
# ACLs (deploy/kafka-acls.conf), as the Kafka admin.
set -eu
export PGPASSWORD="$POSTGRES_PASSWORD"
# The read-only role of the checker first: each service's script grants it CONNECT.
{ printf '\\set pw %s\n' "${READER_DB_PASSWORD:?make compose-env}"; cat /etc/saga/provision-reader.sql; } |
	psql -h postgres -U postgres -v ON_ERROR_STOP=1 -f -
manifest=/etc/saga/services.conf
for role in $(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$manifest" |
	awk '$2 != "-" && !seen[$2]++ { print $2 }'); do
	var=$(echo "$role" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD
	pw=$(printenv "$var") || { echo "init: $var is not set (make compose-env)" >&2; exit 1; }
	{ printf '\\set pw %s\n' "$pw"; cat /etc/saga/provision-role.sql; } |
		psql -h postgres -U postgres -v ON_ERROR_STOP=1 -v role="$role" -f -
done
# The schema registry's database (used with the registry profile only).
{ printf '\\set pw %s\n' "${SCHEMA_REGISTRY_DB_PASSWORD:?make compose-env}"; cat /etc/saga/provision-role.sql; } |
	psql -h postgres -U postgres -v ON_ERROR_STOP=1 -v role=schema_registry -f -
# The broker's port opens before it serves requests: try again for a minute.
tries=0
until topics /etc/saga/topics.conf "$manifest" /etc/saga/kafka-acls.conf; do
	tries=$((tries + 1))
	[ "$tries" -lt 30 ] || { echo "init: the broker did not take the topics and ACLs" >&2; exit 1; }
	sleep 2
done
echo "init: databases, topics and Kafka ACLs ready"
