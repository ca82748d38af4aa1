#!/bin/sh
# Writes .env for compose.yaml: fresh random passwords (one per database and
# one per Kafka principal in deploy/services.conf, Redis's users, the schema
# registry's database and users, Grafana's
# admin), an API key, and the load test's user. A .env that exists keeps its
# values; only what it lacks is added. Also makes the load test's report
# directory (LOADTEST_REPORT_DIR, ./loadtest-report), writable by that user.
# Nothing secret is stored in the repository. ENV_FILE: another file than .env.
set -eu
ENV=${ENV_FILE:-.env}
rnd() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
umask 077
touch "$ENV"
added=0
# put NAME VALUE: NAME=VALUE unless .env has NAME.
put() {
	grep -q "^$1=" "$ENV" && return 0
	echo "$1=$2" >>"$ENV"
	added=$((added + 1))
}
put POSTGRES_PASSWORD "$(rnd)"
for db in $(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' deploy/services.conf |
	awk '$2 != "-" && !seen[$2]++ { print $2 }'); do
	put "$(echo "$db" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD" "$(rnd)"
done
put READER_DB_PASSWORD "$(rnd)"
# The schema registry (profile registry): its database, and its three users.
put SCHEMA_REGISTRY_DB_PASSWORD "$(rnd)"
for name in ADMIN SERVICES READER; do
	put "REGISTRY_PASSWORD_$name" "$(rnd)"
done
# Kafka: the admin, the broker's controller and a principal per service.
for name in ADMIN CONTROLLER $(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' deploy/services.conf |
	awk '{ n = $1; sub(/#.*/, "", n); if (!seen[n]++) print toupper(n) }'); do
	put "KAFKA_PASSWORD_$name" "$(rnd)"
done
for name in ADMIN GATEWAY CHECKER; do
	put "REDIS_PASSWORD_$name" "$(rnd)"
done
put API_KEY "dev-$(rnd)"
put GRAFANA_ADMIN_PASSWORD "$(rnd)"
# The load test's container writes its report as this user, never as root.
uid=$(id -u)
[ "$uid" = 0 ] && uid=10001
put LOADTEST_UID "$uid"
put LOADTEST_REPORT_DIR "${LOADTEST_REPORT_DIR:-./loadtest-report}"
echo "compose-env: $ENV has every value ($added added; API_KEY is the key for the gateway)"

dir=$(sed -n 's/^LOADTEST_REPORT_DIR=//p' "$ENV")
uid=$(sed -n 's/^LOADTEST_UID=//p' "$ENV")
umask 022
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown "$uid" "$dir"
exit 0
