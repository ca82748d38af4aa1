#!/usr/bin/env bash
# make test: a schema changed incompatibly fails `make`. In a scratch copy of
# the repository (with a copy of the release build, so only what the change
# touches is rebuilt), OrderCreated gains a field without a default: older
# readers can no longer resolve new data. `make` must exit non-zero and name
# the schema; the unchanged copy must pass. Prints "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/saga-schemas.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
git ls-files -co --exclude-standard | grep -v '^\.run/' | tar -cf - -T - | tar -xf - -C "$tmp"
[ -d build/release ] && mkdir -p "$tmp/build" && cp -a build/release "$tmp/build/"
cd "$tmp"
. "$root/tests/support/verdicts.sh"

make -s --no-print-directory -j2 >make-ok.log 2>&1
check $? "make passes with the schemas as they are"

python3 - schemas/OrderCreated.avsc <<'PY'
import json, sys
path = sys.argv[1]
schema = json.load(open(path))
schema["fields"].append({"name": "gift_wrap", "type": "boolean"})
json.dump(schema, open(path, "w"), indent=2)
PY
make -s --no-print-directory -j2 >make-bad.log 2>&1
rc=$?
[ "$rc" -ne 0 ] && grep -q 'FAIL OrderCreated.avsc' make-bad.log
check $? "make fails (exit $rc) on a field added without a default"
grep -q '1 incompatible' make-bad.log
check $? "the summary counts the incompatible schema"
[ "$failed" = 0 ] || { echo "--- make output"; cat make-ok.log make-bad.log; }
echo "schemas-make: $passed passed, $failed failed"
[ "$failed" = 0 ]
