#!/usr/bin/env bash
# make loadtest STEP=N: the highest sustainable order rate, found by steps.
# Runs the load test (tests/load/run.sh) at N, 2N, 3N ... orders/s, each for
# DURATION seconds, until a step is not sustainable or MAX_RATE is passed.
# A step is sustainable when its accept → terminal p99 is under
# SUSTAIN_P99_MS (1000) and the queue does not grow: over the second half of
# the step, orders finish at 95 % or more of the rate they arrive.
# First WARMUP_S seconds (5; 0 for none) at the first step's rate, not
# reported: a stack whose daemons just started may still be rebalancing.
# Writes .run/load/step-<time>/report.md (a row per step, and each step's
# own report) and prints the highest sustainable rate.
set -uo pipefail
cd "$(dirname "$0")/../.."
STEP=${STEP:?STEP=orders/s per step}
MAX_RATE=${MAX_RATE:-5000}
SUSTAIN_P99_MS=${SUSTAIN_P99_MS:-1000}
export DURATION=${DURATION:-30}
OUT=.run/load/step-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

json() { sed -nE "s/.*\"$1\": \\{[^}]*\"$2\": ([0-9.]+).*/\\1/p" "$3" | head -n 1; }

if [ "${WARMUP_S:-5}" -gt 0 ]; then
	echo "=== warm-up: $STEP orders/s for ${WARMUP_S:-5} s (not reported)"
	RATE=$STEP DURATION=${WARMUP_S:-5} bash tests/load/run.sh >"$OUT/warm-up.log" 2>&1
fi
best=0
ok=yes
limit=found # or "not reached": every step up to MAX_RATE was sustainable
rows=
for ((rate = STEP; rate <= MAX_RATE; rate += STEP)); do
	echo "=== step: $rate orders/s for $DURATION s"
	RATE=$rate bash tests/load/run.sh >"$OUT/step-$rate.log" 2>&1
	run=$(readlink -f .run/load/latest)
	cp -r "$run" "$OUT/step-$rate"
	p99=$(json terminal_ms p99 "$run/results.json")
	confirm=$(json confirm_ms p99 "$run/results.json")
	# Orders finished per second over the step's second half.
	kept=$(awk -F'\t' -v d="$DURATION" 'NR > 1 && $1 > d / 2 && $1 <= d { s += $3; n++ }
		END { printf "%.0f", n ? s / n : 0 }' "$run/samples.tsv")
	stack=$(grep '\*\*stack\*\*' "$run/report.md" | awk -F'|' '{ gsub(/[ *]/, "", $3); print $3 }')
	ok=yes
	awk -v p="${p99:-1e9}" -v m="$SUSTAIN_P99_MS" 'BEGIN { exit !(p < m) }' || ok=no
	[ "$kept" -ge $((rate * 95 / 100)) ] || ok=no
	rows+="| $rate | $kept | ${confirm:-n/a} ms | ${p99:-n/a} ms | ${stack:-n/a} | $ok |"$'\n'
	echo "  finished $kept/s in the second half, terminal p99 ${p99:-n/a} ms, $stack cores: sustainable $ok"
	[ "$ok" = yes ] || break
	best=$rate
done
[ "$ok" = yes ] && limit="not reached"

cat >"$OUT/report.md" <<MD
# Highest sustainable rate: $best orders/s$([ "$limit" = found ] || echo " or more (MAX_RATE $MAX_RATE reached)")

Steps of $STEP orders/s, $DURATION s each, mix \`${MIX:-ok=90,declined=5,stock=5}\`, $(nproc) cores.
Sustainable: accept → terminal p99 under $SUSTAIN_P99_MS ms and, over the
second half of the step, orders finishing at 95 % or more of the offered rate.

| offered orders/s | finished/s (second half) | accept → confirmed p99 | accept → terminal p99 | stack cores | sustainable |
|---|---|---|---|---|---|
$rows
Each step's own report: step-<rate>/report.md.
MD
cat "$OUT/report.md"
echo "report: $OUT/report.md"
