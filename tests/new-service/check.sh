#!/usr/bin/env bash
# make test: generates a service with `make new-service` in a temporary copy
# of the repository, builds it (sanitizers) and runs its unit and integration
# tests against the running stack. Prints "new-service: N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/saga-new-service.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
cd "$root"
git ls-files -co --exclude-standard | grep -v '^\.run/' | tar -cf - -T - | tar -xf - -C "$tmp"
cd "$tmp"
fail() { echo "$1"; echo "new-service: 0 passed, 1 failed"; exit 1; }
make --no-print-directory new-service NAME=audit CONSUMES=order-events PRODUCES=NotificationSent ||
	fail "make new-service failed"
make -s --no-print-directory VARIANT=asan -j2 build/asan/bin/audit build/asan/tests/bin/unit \
	build/asan/tests/bin/"$(ls tests/integration | grep audit | sed 's/\.c$//')" >build.log 2>&1 ||
	{ tail -20 build.log; fail "the generated service does not build"; }
set -a
. "$root/.run/stack.env"
set +a
export BUILD_DIR=build/asan
mkdir -p .run/logs
passed=0
failed=0
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
