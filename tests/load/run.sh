#!/usr/bin/env bash
# make loadtest: runs the open-loop load generator against the running stack
# and writes a report with plots: .run/load/<timestamp>/{report.md,results.json,*.png}.
# RATE (orders/s), DURATION (s), MIX (ok=..,declined=..,stock=..), WORKERS.
# Ends with the invariant checker; PASS only when every accepted order
# finished and every invariant holds.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
set -a
. .run/stack.env
set +a
export RATE=${RATE:-200} DURATION=${DURATION:-60} MIX=${MIX:-ok=90,declined=5,stock=5}
OUT=.run/load/$(date +%Y%m%d-%H%M%S)
export OUT_DIR=$OUT
mkdir -p "$OUT"

cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
pg_stat() {
	psql "$READER_ORDER_DATABASE_URL" -XAtc \
		"SELECT (SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database), wal_sync FROM pg_stat_wal" |
		tr '|' ' '
}

read -r xact0 sync0 <<<"$(pg_stat)"
bash tests/load/procs.sh cpu >"$OUT/cpu0.txt"
bash tests/load/procs.sh requests >"$OUT/requests0.txt"
cpu0=$(cpu_busy)
t0=$(date +%s.%N)
# The generator's own CPU (user and system seconds), apart from the stack's.
TIMEFORMAT='%U %S'
{ time "$BUILD_DIR/bin/loadgen" 2>&3; } 3>&2 2>"$OUT/loadgen-cpu.txt"
gen_rc=$?
t1=$(date +%s.%N)
cpu1=$(cpu_busy)
bash tests/load/procs.sh cpu >"$OUT/cpu1.txt"
bash tests/load/procs.sh memory >"$OUT/memory.txt"
# The clients report their request counts every 5 s: wait for the last ones.
sleep 6
bash tests/load/procs.sh requests >"$OUT/requests1.txt"
read -r xact1 sync1 <<<"$(pg_stat)"
echo
echo "invariants:"
CHECK_SETTLE_S=60 "$BUILD_DIR/bin/check-invariants" | tee "$OUT/invariants.txt"
inv_rc=${PIPESTATUS[0]}

# Percentiles of a column of numbers (sorted here).
pct() { sort -n | awk -v p="$1" '{v[NR]=$1} END {if (NR==0) {print "n/a"; exit} i=int(NR*p/100); if (i<1) i=1; if (i>NR) i=NR; printf "%.1f", v[i]}'; }
accept() { awk -F'\t' 'NR>1 && $2==202 {print $3}' "$OUT/accept.tsv"; }
confirm() { awk -F'\t' 'NR>1 && $2>=0 {print $2}' "$OUT/e2e.tsv"; }
terminal() { awk -F'\t' 'NR>1 && $3>=0 {print $3}' "$OUT/e2e.tsv"; }

accepted=$(awk -F'\t' 'NR>1 && $2==202' "$OUT/accept.tsv" | wc -l)
finished=$(terminal | wc -l)
orders=$(awk -F'\t' 'NR>1' "$OUT/accept.tsv" | wc -l)
errors=$(awk -F'\t' 'NR>1 && $2!=202' "$OUT/accept.tsv" | wc -l)
secs=$(echo "$t1 - $t0" | bc)
cpu_s=$(echo "scale=3; ($cpu1 - $cpu0) / $(getconf CLK_TCK)" | bc)
kafka_msgs=$(sed -E 's/.*"kafka_messages": ([0-9-]+).*/\1/' "$OUT/summary.json")
# (printf: bc writes .0129, which is not JSON.)
per() { if [ "$accepted" -gt 0 ]; then printf '%.4f' "$(echo "scale=4; $1 / $accepted" | bc)"; else echo 0; fi; }
achieved=$(awk -F'\t' 'NR>1 && $1<='"$DURATION"' {s+=$2; n++} END {if (n) printf "%.0f", s/n; else print 0}' "$OUT/samples.tsv")
verdict=PASS
{ [ "$gen_rc" -ne 0 ] || [ "$inv_rc" -ne 0 ] || [ "$finished" -ne "$accepted" ]; } && verdict=FAIL

# Per-second accept latency percentiles for the plot.
awk -F'\t' 'NR>1 && $2==202 {print int($1) "\t" $3}' "$OUT/accept.tsv" | sort -k1,1n -k2,2n |
	awk -F'\t' '{if ($1!=s && n) {print s "\t" v[int(n*0.5)+1] "\t" v[int(n*0.99)+1] "\t" v[n]; n=0} s=$1; v[++n]=$2}
	END {if (n) print s "\t" v[int(n*0.5)+1] "\t" v[int(n*0.99)+1] "\t" v[n]}' >"$OUT/accept_by_second.tsv"
awk -F'\t' 'NR>1 && $3>=0 {print int($1) "\t" $3}' "$OUT/e2e.tsv" | sort -k1,1n -k2,2n |
	awk -F'\t' '{if ($1!=s && n) {print s "\t" v[int(n*0.5)+1] "\t" v[int(n*0.99)+1]; n=0} s=$1; v[++n]=$2}
	END {if (n) print s "\t" v[int(n*0.5)+1] "\t" v[int(n*0.99)+1]}' >"$OUT/e2e_by_second.tsv"
terminal | sort -n | awk '{print $1 "\t" NR}' >"$OUT/e2e_cdf.tsv"
accept | sort -n | awk '{print $1 "\t" NR}' >"$OUT/accept_cdf.tsv"

if command -v gnuplot >/dev/null; then
	gnuplot <<GP
set terminal pngcairo size 1000,500 noenhanced
set grid
set datafile separator "\t"
set output "$OUT/latency_over_time.png"
set title "Latency over time at $RATE orders/s (mix $MIX)"
set xlabel "second of the run"; set ylabel "ms"; set logscale y
plot "$OUT/accept_by_second.tsv" using 1:2 with lines title "accept p50", \
     "$OUT/accept_by_second.tsv" using 1:3 with lines title "accept p99", \
     "$OUT/e2e_by_second.tsv" using 1:2 with lines title "end-to-end p50", \
     "$OUT/e2e_by_second.tsv" using 1:3 with lines title "end-to-end p99"
unset logscale y
set output "$OUT/throughput.png"
set title "Throughput (target $RATE orders/s)"
set xlabel "second of the run"; set ylabel "orders/s"
plot "$OUT/samples.tsv" using 1:2 every ::1 with lines title "sent", \
     "$OUT/samples.tsv" using 1:3 every ::1 with lines title "finished (terminal event)"
set output "$OUT/latency_distribution.png"
set title "Latency distribution (CDF)"
set xlabel "ms"; set ylabel "share of orders"; set logscale x
plot "$OUT/accept_cdf.tsv" using 1:(\$2/$accepted) with lines title "accept (202)", \
     "$OUT/e2e_cdf.tsv" using 1:(\$2/$accepted) with lines title "end-to-end (terminal)"
GP
fi

# Per process: cores over the run and CPU ms per accepted order.
tck=$(getconf CLK_TCK)
per_process=$(join <(sort "$OUT/cpu0.txt") <(sort "$OUT/cpu1.txt") 2>/dev/null |
	awk -v s="$secs" -v t="$tck" -v n="$accepted" '{ d = ($3 - $2) / t; total += d
		printf "| %s | %.2f | %.2f |\n", $1, d / s, n ? d * 1000 / n : 0 }
		END { printf "| **stack** | **%.2f** | **%.2f** |\n", total / s, n ? total * 1000 / n : 0 }')
read -r gen_user gen_sys <"$OUT/loadgen-cpu.txt" 2>/dev/null || true
gen_cores=$(echo "scale=2; (${gen_user:-0} + ${gen_sys:-0}) / $secs" | bc)
memory_rows=$(awk '{ printf "| %s | %.1f | %.1f |\n", $1, $2 / 1024, $3 / 1024 }' "$OUT/memory.txt")
peak_mib=$(awk '$2 > m { m = $2 } END { printf "%.1f", m / 1024 }' "$OUT/memory.txt")
# Kafka requests per second by kind, every daemon's clients together.
request_rates=$(join -a 2 "$OUT/requests0.txt" "$OUT/requests1.txt" 2>/dev/null |
	awk -v s="$secs" -v n="$accepted" 'NF == 2 { $3 = $2; $2 = 0 } $3 > $2 {
		printf "| %s | %.0f | %.2f |\n", $1, ($3 - $2) / s, n ? ($3 - $2) / n : 0 }')

cat >"$OUT/results.json" <<JSON
{"verdict": "$verdict", "rate": $RATE, "duration_s": $DURATION, "mix": "$MIX",
 "scheduled": $orders, "accepted": $accepted, "errors": $errors, "finished": $finished,
 "achieved_orders_per_s": $achieved,
 "accept_ms": {"p50": $(accept | pct 50), "p99": $(accept | pct 99), "max": $(accept | pct 100)},
 "confirm_ms": {"p50": $(confirm | pct 50), "p99": $(confirm | pct 99)},
 "terminal_ms": {"p50": $(terminal | pct 50), "p99": $(terminal | pct 99), "max": $(terminal | pct 100)},
 "per_order": {"cpu_s": $(per "$cpu_s"), "pg_transactions": $(per "$((xact1 - xact0))"),
               "wal_syncs": $(per "$((sync1 - sync0))"), "kafka_messages": $(per "$kafka_msgs")},
 "daemon_peak_resident_mib": ${peak_mib:-0},
 "wall_s": $secs}
JSON
cat >"$OUT/report.md" <<MD
# Load test: $verdict

$RATE orders/s for $DURATION s, mix \`$MIX\`, $(nproc) cores; open loop (latency from each
request's scheduled time).

| measure | value |
|---|---|
| orders scheduled / accepted / errors | $orders / $accepted / $errors |
| orders finished (terminal event seen) | $finished |
| achieved send rate | $achieved orders/s |
| accept latency p50 / p99 / max | $(accept | pct 50) / $(accept | pct 99) / $(accept | pct 100) ms |
| accept → confirmed p50 / p99 | $(confirm | pct 50) / $(confirm | pct 99) ms |
| accept → terminal p50 / p99 / max | $(terminal | pct 50) / $(terminal | pct 99) / $(terminal | pct 100) ms |
| CPU per order (whole machine) | $(per "$cpu_s") s |
| PostgreSQL transactions per order | $(per "$((xact1 - xact0))") |
| WAL syncs per order | $(per "$((sync1 - sync0))") |
| Kafka messages per order | $(per "$kafka_msgs") |

CPU by process (user + system, from /proc; the load generator apart:
$gen_cores cores):

| process | cores | CPU ms per order |
|---|---|---|
$per_process

Kafka requests sent by the daemons' clients (librdkafka's statistics,
\`saga_kafka_requests_total\`):

| request | per second | per order |
|---|---|---|
$request_rates

Resident memory of each daemon instance (MiB; the peak since it started,
VmHWM, and at the end of the load):

| daemon | peak | at the end |
|---|---|---|
$memory_rows

Invariants:

\`\`\`
$(cat "$OUT/invariants.txt")
\`\`\`

![latency over time](latency_over_time.png)
![throughput](throughput.png)
![latency distribution](latency_distribution.png)
MD
rm -rf .run/load/latest
ln -s "$(basename "$OUT")" .run/load/latest
echo
cat "$OUT/report.md" | sed -n '1,20p'
echo "report: $OUT/report.md"
[ "$verdict" = PASS ]
