#!/usr/bin/env bash
# make test, after the end-to-end suites: no secret of the stack
# (.run/secrets.env: database passwords, API keys) appears in what
# `make up` prints (the stack's and the sample order's output) or in any
# daemon's log under .run/logs, and no file holding one is readable by
# others. Prints "secrets: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
passed=0
failed=0
check() { if [ "$1" = 0 ]; then passed=$((passed + 1)); echo "ok   $2"; else failed=$((failed + 1)); echo "FAIL $2"; fi; }

secrets=$(cut -s -d= -f2- .run/secrets.env | grep -v '^$')
[ -n "$secrets" ]
check $? "the stack has secrets to look for ($(wc -l <<<"$secrets") of them)"

# What make up prints: the stack's summary (it is up already, so this only
# prints it again) and the sample order's.
out=$(BUILD_DIR=${BUILD_DIR:-build/release} bash deploy/local/stack.sh up 2>&1; bash deploy/local/sample-order.sh 2>&1)
leaks=$(grep -cFf <(echo "$secrets") <<<"$out")
check "$([ "$leaks" = 0 ]; echo $?)" "make up's output shows no secret ($leaks lines do)"

# Daemons' logs (the tests' own logs hold what the tests printed).
files=$(ls .run/logs/*.log 2>/dev/null | grep -v '/test-')
leaky=$(for f in $files; do grep -qFf <(echo "$secrets") "$f" && echo "$f"; done)
check "$([ -z "$leaky" ]; echo $?)" "no secret in $(wc -w <<<"$files") daemon logs${leaky:+ (in: $leaky)}"

# Files with a secret in them are readable by their owner only.
readable=$(for f in .run/secrets.env .run/stack.env .run/postgres/data/pg_hba.conf; do
	[ -e "$f" ] && [ -n "$(find "$f" -perm /044)" ] && echo "$f"; done)
check "$([ -z "$readable" ]; echo $?)" "secrets files are mode 600${readable:+ (not: $readable)}"
echo "secrets: $passed passed, $failed failed"
[ "$failed" = 0 ]
