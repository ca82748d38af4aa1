#!/usr/bin/env bash
# make test: generates a service with `make new-service` in a temporary copy
# of the repository, with an event of its own that has no schema yet, and
# checks that nothing is left to edit by hand: the only existing files it
# changed are the manifest and what is generated from it; the manifest's
# checks pass; its dead-letter topic and its new event's topic are created
# in the running stack, Prometheus scrapes it and check-invariants waits for
# its group. Then it builds the service (sanitizers) and runs its unit and
# integration tests against the running stack.
# Prints "new-service: N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/saga-new-service.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
cd "$root"
git ls-files -co --exclude-standard | grep -v '^\.run/' | tar -cf - -T - | tar -xf - -C "$tmp"
cd "$tmp"
passed=0
failed=0
check() { if [ "$1" = 0 ]; then passed=$((passed + 1)); echo "  ok   $2"; else failed=$((failed + 1)); echo "  FAIL $2"; fi; }
fail() { echo "$1"; echo "new-service: $passed passed, $((failed + 1)) failed"; exit 1; }

before=$(mktemp /tmp/saga-new-service-files.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp" "$before"' EXIT
find . -type f -not -path './build/*' -print0 | sort -z | xargs -0 md5sum >"$before"
make --no-print-directory new-service NAME=audit CONSUMES=OrderCompleted PRODUCES=AuditRecorded ||
	fail "make new-service failed"
changed=$(find . -type f -not -path './build/*' -print0 | sort -z | xargs -0 md5sum |
	diff "$before" - | grep '^[<>]' | awk '{print $3}' | sort -u)
allowed='^\./(deploy/services\.conf|deploy/kafka-acls\.conf|compose\.yaml|deploy/observability/prometheus\.yml|deploy/topics\.conf|docs/events\.md|services/audit/.*|tests/unit/test_audit\.c|tests/integration/[0-9]+_audit\.c|schemas/AuditRecorded\.avsc)$'
unexpected=$(grep -vE "$allowed" <<<"$changed" || true)
check "$([ -z "$unexpected" ]; echo $?)" "only the manifest and what is made from it changed${unexpected:+ (also: $unexpected)}"
check "$([ -f schemas/AuditRecorded.avsc ] && grep -q '"x-topic": "audit-events"' schemas/AuditRecorded.avsc; echo $?)" \
	"the new event has a schema with its own topic"
python3 tools/manifest.py --check >manifest.log 2>&1
check $? "compose.yaml and prometheus.yml are what the manifest makes"
python3 tests/compose/check.py >compose.log 2>&1
check $? "compose.yaml runs the new service (tests/compose/check.py)"
python3 tools/events-doc.py --check >events.log 2>&1
check $? "docs/events.md lists the new event"
port=$(awk '$1 == "audit" { print $3 }' deploy/services.conf)
grep -q "audit:$port" deploy/observability/prometheus.yml
check $? "Prometheus scrapes audit:$port"

make -s --no-print-directory VARIANT=asan -j2 build/asan/bin/audit build/asan/bin/topics \
	build/asan/bin/check-invariants build/asan/tests/bin/unit \
	build/asan/tests/bin/"$(ls tests/integration | grep audit | sed 's/\.c$//')" >build.log 2>&1 ||
	{ tail -20 build.log; fail "the generated service does not build"; }
set -a
. "$root/.run/stack.env"
set +a
export BUILD_DIR=build/asan
mkdir -p .run/logs
acls=()
[ "${KAFKA_SECURITY_PROTOCOL:-}" = PLAINTEXT ] || acls=(deploy/kafka-acls.conf)
build/asan/bin/topics deploy/topics.conf deploy/services.conf "${acls[@]}" >topics.log 2>&1 &&
	grep -qE '(created topic|topic) dlq.audit' topics.log && grep -qE '(created topic|topic) audit-events' topics.log
check $? "the stack gets dlq.audit and audit-events"
grep -qE '^audit +audit-events +order-events$' deploy/kafka-acls.conf
check $? "its principal may write audit-events and read order-events"
# Its first line names the groups; on a stack whose services have not run
# yet it then fails (no tables), which is not what this checks.
groups=$(CHECK_SETTLE_S=0 build/asan/bin/check-invariants 2>/dev/null | head -n 1 || true)
grep -q '^groups: .*,audit' <<<"$groups"
check $? "check-invariants waits for group audit ($groups)"
build/asan/bin/audit --help | grep -q "$port"
check $? "its admin port is $port"
for t in "build/asan/tests/bin/unit --filter audit/*" "build/asan/tests/bin/$(ls tests/integration | grep audit | sed 's/\.c$//')"; do
	out=$($t --jobs=1 2>&1)
	line=$(grep -a 'Synthesis' <<<"$out" | tail -n 1)
	echo "  $t: $line"
	p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
	f=$(sed -E 's/.*Failing: ([0-9]+).*Crashing: ([0-9]+).*/\1+\2/' <<<"$line")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
	[ -n "$line" ] || { echo "$out" | tail -20; failed=$((failed + 1)); }
done
[ "$passed" -gt 0 ] || failed=$((failed + 1))
echo "new-service: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
