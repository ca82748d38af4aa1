#!/usr/bin/env bash
# make new-service NAME=audit CONSUMES=OrderCompleted,payment-events PRODUCES=NotificationSent
#
# Creates services/NAME from the template: a daemon with its configuration
# table, its own database (migrations), a handler table with one line per
# event type in CONSUMES (an event type, or a topic for all of its types),
# the outbox for PRODUCES wired, admin endpoints, a handler skeleton, a
# unit test and an integration test. PRODUCES may name an event
# that has no schema yet: its schema is written (the shared metadata record,
# topic NAME-events, key order_id) with its topic and its catalogue entry.
#
# The edits it makes to what exists are a line in deploy/services.conf and
# one in deploy/kafka-acls.conf (its principal's rights);
# what follows from that line (its database, consumer group, dead-letter
# topic, Prometheus target, compose service, checker group) is made from
# the manifest (tools/manifest.py render, the native stack, the topics tool,
# check-invariants). The build picks the service up by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-}
consumes=${2:-}
produces=${3:-}
usage() { echo "usage: make new-service NAME=name CONSUMES=EventType|topic[,...] PRODUCES=EventType" >&2; exit 2; }
[ -n "$name" ] && [ -n "$consumes" ] || usage
[[ $name =~ ^[a-z][a-z0-9_]{1,30}$ ]] || { echo "NAME must be lowercase letters, digits, _" >&2; exit 2; }
[ ! -e "services/$name" ] || { echo "services/$name exists" >&2; exit 2; }
grep -qE "^$name[[:space:]#]" deploy/services.conf && { echo "$name is in deploy/services.conf" >&2; exit 2; }
if [ -n "$produces" ] && ! [[ $produces =~ ^[A-Z][A-Za-z0-9]{2,60}$ ]]; then
	echo "PRODUCES must be an event type in CamelCase, e.g. LoyaltyPointsAwarded" >&2
	exit 2
fi
# The event types it applies: each named type, and every type of each named topic.
types=$(python3 - "$consumes" <<'PY'
import glob, json, sys
schemas = [json.load(open(p)) for p in sorted(glob.glob("schemas/*.avsc"))]
out = []
for word in sys.argv[1].split(","):
    found = [s["name"] for s in schemas if word in (s["name"], s["x-topic"])]
    if not found:
        sys.exit(f"CONSUMES: {word} is neither an event type nor a topic of one")
    out += [t for t in found if t not in out]
print(" ".join(out))
PY
) || exit 2
upper=$(tr '[:lower:]' '[:upper:]' <<<"$name")
# The next free admin port after the manifest's.
port=$(grep -v '^[[:space:]]*#' deploy/services.conf | awk 'NF >= 3 { print $3 }' | sort -n | tail -n 1)
port=$((port + 1))
[ "$port" -ne 9190 ] || port=9191 # the template's own

rename() { sed -e "s/template/$name/g" -e "s/TEMPLATE/$upper/g"; }

mkdir -p "services/$name/migrations"
for f in main.c template.c template.h migrations/001_init.sql; do
	rename <"services/template/$f" >"services/$name/$(rename <<<"$f")"
done
# Its admin port; its handler table (a line per type) and what it emits.
sed -i -e "s/\"9190\"/\"$port\"/" "services/$name/main.c"
python3 - "services/$name/$name.c" "$name" "$produces" $types <<'PY'
import sys
path, name, produces, types = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
src = open(path).read()
example = f'        {{"OrderCompleted", {name}_handle}},\n'
assert example in src, "the template's handler table changed"
src = src.replace(example, "".join(f'        {{"{t}", {name}_handle}},\n' for t in types))
src = src.replace(f'const char {name}_emits[] = "NotificationSent";',
                  f'const char {name}_emits[] = "{produces}";')
open(path, "w").write(src)
PY

# A new event: its schema, its topic, its place in the catalogue.
new_event=
if [ -n "$produces" ] && [ ! -f "schemas/$produces.avsc" ]; then
	new_event="schemas/$produces.avsc"
	python3 - "$produces" "$name" <<'PY'
import json, sys
event, service = sys.argv[1], sys.argv[2]
metadata = json.load(open("schemas/OrderCreated.avsc"))["fields"][0]  # the shared record
schema = {
    "type": "record",
    "name": event,
    "namespace": f"saga.{service}",
    "doc": f"Emitted by the {service} service (made by make new-service: say what it means).",
    "x-topic": f"{service}-events",
    "x-producer": service,
    "x-key": "order_id",
    "fields": [
        metadata,
        {"name": "order_id", "type": "string", "doc": "The order it is about (the key)."},
        {"name": "cause_event_id", "type": "string", "doc": "The event that caused it."},
        {"name": "cause_event_type", "type": "string", "doc": "That event's type."},
    ],
}
with open(f"schemas/{event}.avsc", "w") as f:
    json.dump(schema, f, indent=2)
    f.write("\n")
PY
	grep -qE "^$name-events( |$)" deploy/topics.conf || echo "$name-events" >>deploy/topics.conf
fi
python3 tools/events-doc.py >docs/events.md # its consumers column names the new service

rename <tests/unit/test_template.c >"tests/unit/test_$name.c"
last=$(ls tests/integration | grep -o '^[0-9][0-9]' | sort -n | tail -n 1)
next=$(printf '%02d' $((10#$last + 1)))
rename <tests/integration/07_template.c |
	sed -e "s/#define EMITS[[:space:]]*\"NotificationSent\"/#define EMITS    \"$produces\"/" \
		-e "s/#define CONSUMES[[:space:]]*\"OrderCompleted\"/#define CONSUMES \"${types%% *}\"/" \
		-e "s/#define PORT[[:space:]]*19196/#define PORT    $((19200 + 10#$next))/" >"tests/integration/${next}_$name.c"

# The one line in the manifest, and what is generated from it.
printf '%-15s %-14s %-6s\n' "$name" "$name" "$port" | sed 's/ *$//' >>deploy/services.conf
python3 tools/manifest.py render
# Its Kafka principal's rights: write the topic of what it emits, read the
# topics of what it applies (its group and dlq.<name> come with the line).
python3 - "$name" "$produces" $types >>deploy/kafka-acls.conf <<'PY'
import glob, json, sys
name, produces, types = sys.argv[1], sys.argv[2], sys.argv[3:]
topic = {s["name"]: s["x-topic"] for s in map(lambda p: json.load(open(p)), glob.glob("schemas/*.avsc"))}
reads = []
for t in types:
    if topic[t] not in reads:
        reads.append(topic[t])
print(f"{name:<15} {topic.get(produces, '-') if produces else '-':<35} {','.join(reads)}")
PY

cat <<TXT
created services/$name (admin port $port), applying $types${produces:+, emitting $produces}:
  services/$name/$name.c            the domain logic: what to do with each event
  services/$name/migrations/          its tables (001_init.sql)
  services/$name/main.c               its configuration table and wiring
  tests/unit/test_$name.c             unit test
  tests/integration/${next}_$name.c   integration test (real stack)
${new_event:+  $new_event   its new event (topic $name-events, in docs/events.md)
}and a line in deploy/services.conf: its database ($name), consumer group and
dead-letter topic (dlq.$name), Prometheus target, compose service and checker
group follow from it; and its Kafka principal's rights in
deploy/kafka-acls.conf. Next: make && make test; make up starts it.
TXT
