#!/usr/bin/env bash
# Images for the compose stack on a machine that reaches no registry: the
# Debian base (base-image.sh, made once), the servers' stand-ins built from
# Debian's packages and Kafka's jars (test-images/), and the image variables
# compose.yaml reads to use them. Usage: deploy/compose/images.sh [ENV_FILE]
# Builds the images; with ENV_FILE, adds the variables it lacks to that file
# (make compose-images adds them to .env), and prints them either way.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/kafka.sh fetch >&2
bash deploy/local/registry.sh fetch >&2
bash deploy/compose/base-image.sh >&2
# name:tag of each stand-in, and the variable that names it in compose.yaml.
# (registry builds on the kafka one: it comes after it.)
STAND_INS="kafka:KAFKA_IMAGE registry:REGISTRY_IMAGE postgres:POSTGRES_IMAGE redis:REDIS_IMAGE prometheus:PROMETHEUS_IMAGE probe:"
vars="BASE_IMAGE=saga-base:bookworm"
for entry in $STAND_INS; do
	name=${entry%%:*} var=${entry#*:}
	docker build -q -t "saga-stand-in/$name:local" -f "deploy/compose/test-images/$name.Dockerfile" . >/dev/null
	[ -n "$var" ] && vars+=" $var=saga-stand-in/$name:local"
done
for v in $vars; do
	if [ -n "${1:-}" ] && ! grep -q "^${v%%=*}=" "$1"; then
		echo "$v" >>"$1"
	fi
	echo "$v"
done
