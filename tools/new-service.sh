#!/usr/bin/env bash
# make new-service NAME=audit CONSUMES=order-events,payment-events PRODUCES=NotificationSent
#
# Creates services/NAME from the template: a daemon with its configuration
# table, its own database (migrations), the idempotent batch consumer of
# CONSUMES and the outbox for PRODUCES wired, admin endpoints, a handler
# skeleton, a unit test and an integration test. The build picks it up by
# itself; the native stack gets its database and `make up` starts it.
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-}
consumes=${2:-}
produces=${3:-}
usage() { echo "usage: make new-service NAME=name CONSUMES=topic[,topic] PRODUCES=EventType" >&2; exit 2; }
[ -n "$name" ] && [ -n "$consumes" ] || usage
[[ $name =~ ^[a-z][a-z0-9_]{1,30}$ ]] || { echo "NAME must be lowercase letters, digits, _" >&2; exit 2; }
[ ! -e "services/$name" ] || { echo "services/$name exists" >&2; exit 2; }
if [ -n "$produces" ] && [ ! -f "schemas/$produces.avsc" ]; then
	echo "PRODUCES: no schema schemas/$produces.avsc" >&2
	exit 2
fi
for t in ${consumes//,/ }; do
	grep -qE "^$t( |$)" deploy/topics.conf || { echo "CONSUMES: $t is not in deploy/topics.conf" >&2; exit 2; }
done
upper=$(tr '[:lower:]' '[:upper:]' <<<"$name")
# The next free admin port after the existing daemons'.
port=$(grep -ho 'DAEMON_CONFIG_VARS([^)]*"9[0-9]*")' services/*/main.c | grep -o '9[0-9]\{3\}' | sort -n | tail -n 1)
port=$((port + 1))
[ "$port" -ne 9190 ] || port=9191

rename() { sed -e "s/template/$name/g" -e "s/TEMPLATE/$upper/g"; }

mkdir -p "services/$name/migrations"
for f in main.c template.c template.h migrations/001_init.sql; do
	rename <"services/template/$f" >"services/$name/$(rename <<<"$f")"
done
# Its defaults: what it consumes, what it emits, its admin port.
sed -i -e "s/\"9190\"/\"$port\"/" \
	-e "s/CONFIG_STR(\"CONSUME_TOPICS\", \"order-events\"/CONFIG_STR(\"CONSUME_TOPICS\", \"$consumes\"/" \
	-e "s/CONFIG_STR(\"EMIT_TYPE\", \"\"/CONFIG_STR(\"EMIT_TYPE\", \"$produces\"/" \
	"services/$name/main.c"
rename <tests/unit/test_template.c >"tests/unit/test_$name.c"
last=$(ls tests/integration | grep -o '^[0-9][0-9]' | sort -n | tail -n 1)
next=$(printf '%02d' $((10#$last + 1)))
rename <tests/integration/07_template.c |
	sed -e "s/#define EMITS \"NotificationSent\"/#define EMITS \"${produces:-NotificationSent}\"/" \
		-e "s/#define PORT 19196/#define PORT $((19200 + 10#$next))/" >"tests/integration/${next}_$name.c"
# Its own database in the native stack, and a place in `make up`.
dbname=$name
sed -i "s/^TEST saga_test$/$upper $dbname\nTEST saga_test/" deploy/local/lib.sh
echo "$name $upper $port" >>deploy/local/services.conf

cat <<TXT
created services/$name (admin port $port), consuming $consumes${produces:+, emitting $produces}:
  services/$name/$name.c            the domain logic: what to do with each event
  services/$name/migrations/          its tables (001_init.sql)
  services/$name/main.c               its configuration table and wiring
  tests/unit/test_$name.c             unit test
  tests/integration/${next}_$name.c   integration test (real stack)
It has its own database ($dbname) in the native stack and starts with make up.
Next: make && make test; then add it to compose.yaml (see docs/new-service.md).
TXT
