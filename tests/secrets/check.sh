#!/usr/bin/env bash
# make test, after the end-to-end suites: no secret of the stack
# (.run/secrets.env: database, Kafka, Redis and schema registry passwords, API keys) appears in what
# `make up` prints (the stack's and the sample order's output) or in any
# daemon's log under .run/logs, and no file holding one is readable by
# others. Prints "secrets: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/verdicts.sh

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

# The servers' logs too (Kafka's, Redis's, PostgreSQL's, the schema registry's).
server_logs=$(find .run/kafka .run/redis .run/postgres .run/registry -maxdepth 1 -name '*.log*' 2>/dev/null)
leaky=$(for f in $server_logs; do grep -qFf <(echo "$secrets") "$f" && echo "$f"; done)
check "$([ -z "$leaky" ]; echo $?)" "no secret in $(wc -w <<<"$server_logs") server logs${leaky:+ (in: $leaky)}"

# Every file under .run/ that holds a secret (in clear) is readable by its
# owner only: found by content, not by a list that could miss one.
holders=$(grep -rlFf <(echo "$secrets") .run --exclude-dir=data --exclude='*.log' 2>/dev/null)
readable=$(for f in $holders .run/postgres/data/pg_hba.conf .run/kafka/tls/ca.key .run/kafka/tls/broker.key; do
	[ -e "$f" ] && [ -n "$(find "$f" -perm /044)" ] && echo "$f"; done)
check "$([ -z "$readable" ]; echo $?)" "the $(wc -w <<<"$holders") files holding a secret are mode 600${readable:+ (not: $readable)}"

# No process shows a secret in its arguments (ps shows them to every user).
shown=$(ps -eo args= | grep -cFf <(echo "$secrets") || true)
check "$([ "$shown" = 0 ]; echo $?)" "no command line shows a secret ($shown do)"
echo "secrets: $passed passed, $failed failed"
[ "$failed" = 0 ]
