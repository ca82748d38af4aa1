#!/usr/bin/env bash
# What the running stack costs with nothing to do: the cores of each process
# group (tests/load/procs.sh cpu) over IDLE_S seconds (default 60) with no
# load, into .run/load/idle.md. A measurement, not a test.
set -uo pipefail
cd "$(dirname "$0")/../.."
IDLE_S=${IDLE_S:-60}
OUT=.run/load
mkdir -p "$OUT"
bash tests/load/procs.sh cpu >"$OUT/idle0.txt"
sleep "$IDLE_S"
bash tests/load/procs.sh cpu >"$OUT/idle1.txt"
{
	echo "Idle for $IDLE_S s ($(date -u +%Y-%m-%dT%H:%M:%SZ)): cores per process"
	echo
	echo "| process | cores |"
	echo "|---|---|"
	join <(sort "$OUT/idle0.txt") <(sort "$OUT/idle1.txt") |
		awk -v s="$IDLE_S" -v t="$(getconf CLK_TCK)" '{ d = ($3 - $2) / t / s; total += d
			printf "| %s | %.4f |\n", $1, d }
			END { printf "| **stack** | **%.4f** |\n", total }'
} >"$OUT/idle.md"
cat "$OUT/idle.md"
