#!/bin/sh
# Writes .env for compose.yaml with fresh random passwords (one per database
# and one per Kafka principal in deploy/services.conf, Redis's users) and an
# API key, unless it exists. Nothing secret is stored in the repository.
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
	# Kafka: the admin, the broker's controller and a principal per service.
	for name in ADMIN CONTROLLER $(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' deploy/services.conf |
		awk '{ n = $1; sub(/#.*/, "", n); if (!seen[n]++) print toupper(n) }'); do
		echo "KAFKA_PASSWORD_$name=$(rnd)"
	done
	for name in ADMIN GATEWAY CHECKER; do
		echo "REDIS_PASSWORD_$name=$(rnd)"
	done
	echo "API_KEY=dev-$(rnd)"
} >.env
echo "wrote .env (API_KEY is the key for the gateway)"
