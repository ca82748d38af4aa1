#!/bin/sh
# Writes .env for compose.yaml with fresh random passwords (one per database
# in deploy/services.conf) and an API key, unless it exists. Nothing secret
# is stored in the repository.
set -eu
[ -f .env ] && { echo ".env exists; keeping it"; exit 0; }
rnd() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
umask 077
{
	echo "POSTGRES_PASSWORD=$(rnd)"
	for db in $(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' deploy/services.conf |
		awk '$2 != "-" && !seen[$2]++ { print $2 }'); do
		echo "$(echo "$db" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD=$(rnd)"
	done
	echo "READER_DB_PASSWORD=$(rnd)"
	echo "API_KEY=dev-$(rnd)"
} >.env
echo "wrote .env (API_KEY is the key for the gateway)"
