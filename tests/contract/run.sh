#!/usr/bin/env bash
# make contract-test: schemathesis, a property-based HTTP client, generates
# requests from docs/openapi.yaml and sends them to the running gateway
# (the stack and its daemons up: make up). Every answer must be documented:
# no 5xx (not even a 503: the stack is healthy), and status, content type,
# headers and body as the document says; what the document calls valid is
# accepted and what it calls invalid refused. At least CONTRACT_MIN_REQUESTS
# (500) requests, counted from schemathesis's own HAR report.
# schemathesis comes from PyPI, pinned, into a virtualenv under .cache/.
# Ends with "contract: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
VERSION=4.32.5
VENV=.cache/schemathesis-$VERSION
OUT=.run/contract
MIN_REQUESTS=${CONTRACT_MIN_REQUESTS:-500}
passed=0
failed=0
verdict() { # verdict OK NAME
	if [ "$1" = 0 ]; then passed=$((passed + 1)); echo "ok   $2"; else failed=$((failed + 1)); echo "FAIL $2"; fi
}
finish() { echo "contract: $passed passed, $failed failed"; [ "$failed" = 0 ]; exit $?; }

if [ ! -f "$VENV/.installed" ]; then
	rm -rf "$VENV"
	if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "schemathesis==$VERSION"; } >"$VENV.log" 2>&1; then
		tail -n 20 "$VENV.log"
		verdict 1 "schemathesis $VERSION installs from PyPI"
		finish
	fi
	touch "$VENV/.installed"
fi
set -a
. .run/stack.env
set +a
rm -rf "$OUT"
mkdir -p "$OUT"
# Every check schemathesis has: each answer as documented, and the
# document's word on what is valid kept both ways (a request it calls valid
# is not refused, one it calls invalid is; a method it does not list gets
# 405 with exactly its methods in Allow).
"$VENV/bin/st" --no-color run docs/openapi.yaml --url "$GATEWAY_URL" \
	--header "Authorization: Bearer $API_KEY" --exclude-path /v1/events \
	--max-examples "${CONTRACT_EXAMPLES:-120}" --seed 20261201 \
	--report har --report-dir "$OUT" >"$OUT/schemathesis.log" 2>&1
rc=$?
tail -n 25 "$OUT/schemathesis.log"
verdict "$rc" "every generated request was answered as docs/openapi.yaml says (schemathesis exit $rc)"
requests=$(python3 -c '
import glob, json, sys
n = 0
for path in glob.glob(sys.argv[1] + "/har-*.json"):
    n += len(json.load(open(path))["log"]["entries"])
print(n)' "$OUT" 2>/dev/null || echo 0)
[ "${requests:-0}" -ge "$MIN_REQUESTS" ]
verdict $? "$requests requests sent (at least $MIN_REQUESTS)"
finish
