#!/usr/bin/env bash
# What the native stack's processes spent, for the load test's report.
# Usage: tests/load/procs.sh cpu        one "NAME TICKS" line per process group
#        tests/load/procs.sh requests   one "API COUNT" line per Kafka request kind,
#                                       summed over every daemon's /metrics
#        tests/load/procs.sh memory     one "NAME PEAK_KB NOW_KB" line per daemon
#                                       instance: resident memory (VmHWM, VmRSS)
#        tests/load/procs.sh ticks PID  the TICKS of one process (its own only)
# NAME: kafka (every node), postgres (the postmaster, its live backends and
# the ones it reaped), redis, the schema registry when it runs, and each
# daemon instance by its pidfile's name.
# TICKS: user + system CPU time in clock ticks (getconf CLK_TCK).
set -uo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib.sh

# ticks PID [with-children]: utime + stime (+ cutime + cstime) of PID.
ticks() {
	local f
	f=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	# Fields after "(comm) ": utime is the 12th, stime 13th, cutime 14th, cstime 15th.
	if [ "${2:-}" = with-children ]; then
		awk '{ print $12 + $13 + $14 + $15 }' <<<"$f"
	else
		awk '{ print $12 + $13 }' <<<"$f"
	fi
}

cpu() {
	local sum=0 pid f
	for pid in $(broker_pids); do
		sum=$((sum + $(ticks "$pid" with-children)))
	done
	echo "kafka $sum"
	# The postmaster counts the backends it reaped; the live ones count themselves.
	sum=0
	set -- $(pg_pids)
	if [ $# -gt 0 ]; then
		sum=$(ticks "$1" with-children)
		shift
		for pid in "$@"; do sum=$((sum + $(ticks "$pid"))); done
	fi
	echo "postgres $sum"
	pid=$(head -n 1 "$REDIS_DIR/redis.pid" 2>/dev/null)
	echo "redis $([ -n "$pid" ] && ticks "$pid" with-children || echo 0)"
	# The schema registry, when it runs.
	pid=$(bash deploy/local/registry.sh pid 2>/dev/null)
	[ -n "$pid" ] && echo "registry $(ticks "$pid" with-children)"
	for f in "$RUN_DIR"/pids/*.pid; do
		[ -f "$f" ] || continue
		echo "$(basename "$f" .pid) $(ticks "$(head -n 1 "$f")" with-children)"
	done
}

# Every daemon instance's admin port is the manifest's third column.
requests() {
	local port
	for port in $(manifest | awk '{ print $3 }'); do
		curl -fsS --max-time 3 "http://127.0.0.1:$port/metrics" 2>/dev/null
	done | awk -F'[{}" ]+' '/^saga_kafka_requests_total/ { n[$3] += $NF } END { for (a in n) print a, n[a] }' |
		sort
}

memory() {
	local f pid
	for f in "$RUN_DIR"/pids/*.pid; do
		[ -f "$f" ] || continue
		pid=$(head -n 1 "$f")
		awk -v n="$(basename "$f" .pid)" '/^VmHWM:/ { p = $2 } /^VmRSS:/ { r = $2 }
			END { if (p) print n, p, r }' "/proc/$pid/status" 2>/dev/null
	done
}

case "${1:-}" in
cpu) cpu ;;
requests) requests ;;
memory) memory ;;
ticks) ticks "${2:?ticks PID}" ;;
*) echo "usage: $0 cpu|requests|memory|ticks PID" >&2; exit 2 ;;
esac
