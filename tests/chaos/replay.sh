#!/usr/bin/env bash
# make replay: every saga consumer group re-consumes its topics from the
# start, and nothing changes (docs/operations.md, "Replay").
#
# With the saga at rest: a digest of every service table, of the read model
# and of every topic's end (tools/replay.c); the daemons stop; every group's
# committed offsets go back to the start of their partitions and the read
# model's offsets are dropped; the daemons start again and consume it all
# (duplicates, every one of them); once they have caught up, a second digest
# must equal the first: the same rows, the same read model, and no event
# published. Dead-letter topics are reported, not compared: a replayed
# poison record is dead-lettered again.
# Usage: tests/chaos/replay.sh   (BUILD_DIR; DAEMON_INSTANCES as the run had)
# Ends with "replay: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib.sh

BUILD_DIR=${BUILD_DIR:-build/release}
export BUILD_DIR
OUT=$RUN_DIR/replay
mkdir -p "$OUT"
log() { printf '[replay %s] %s\n' "$(date +%T)" "$*"; }

bash deploy/local/stack.sh status >/dev/null 2>&1 || { echo "replay: the stack is not up (make up)"; exit 1; }
set -a
. "$RUN_DIR/stack.env"
set +a
bash deploy/local/daemons.sh start >"$OUT/daemons.log" 2>&1 || { tail -n 20 "$OUT/daemons.log"; exit 1; }

passed=0
failed=0
check() { # check NAME COMMAND...: one verdict
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
	else
		echo "replay: FAIL $name"
		failed=$((failed + 1))
	fi
}
at_rest() { CHECK_SETTLE_S=${1:-120} "$BUILD_DIR/bin/check-invariants" >"$OUT/invariants-$2.txt" 2>&1; }

check "at rest before" at_rest 120 before
"$BUILD_DIR/bin/replay" digest >"$OUT/before.txt"
log "digest before: $(grep -c '^table' "$OUT/before.txt") tables, $(grep '^redis' "$OUT/before.txt" | cut -d' ' -f3), $(awk -F= '/^topic/ { s += $2 } END { print s }' "$OUT/before.txt") events in the saga's topics"
bash deploy/local/daemons.sh stop >/dev/null
"$BUILD_DIR/bin/replay" rewind | sed 's/^/  /'
t0=$SECONDS
bash deploy/local/daemons.sh start >>"$OUT/daemons.log" 2>&1 || { tail -n 20 "$OUT/daemons.log"; exit 1; }
# Caught up again: every group at the end of its topics.
check "caught up after the replay" at_rest 600 after
log "re-consumed in $((SECONDS - t0)) s"
"$BUILD_DIR/bin/replay" digest >"$OUT/after.txt"
same() { diff <(grep -v '^dead-letters' "$OUT/before.txt") <(grep -v '^dead-letters' "$OUT/after.txt") >"$OUT/diff.txt"; }
if same; then
	log "the second digest equals the first: $(grep -vc '^dead-letters' "$OUT/after.txt") lines (tables, read model, topic ends)"
	passed=$((passed + 1))
else
	echo "replay: the state changed:"
	sed 's/^/  /' "$OUT/diff.txt"
	failed=$((failed + 1))
fi
diff <(grep '^dead-letters' "$OUT/before.txt") <(grep '^dead-letters' "$OUT/after.txt") |
	grep '^>' | sed 's/^> /  replayed poison, dead-lettered again: /' || true
echo "replay: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
