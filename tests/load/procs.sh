#!/usr/bin/env bash
# What the native stack's processes spent, for the load test's report.
# Usage: tests/load/procs.sh cpu        one "NAME TICKS" line per process group
#        tests/load/procs.sh requests   one "API COUNT" line per Kafka request kind,
#                                       summed over every daemon's /metrics
# NAME: kafka (every node), postgres (the postmaster, its live backends and
# the ones it reaped), redis, and each daemon instance by its pidfile's name.
# TICKS: user + system CPU time in clock ticks (getconf CLK_TCK).
set -uo pipefail
cd "$(dirname "$0")/../.."
RUN=.run

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

pid_of() { head -n 1 "$1" 2>/dev/null; }

cpu() {
	local sum=0 f pid child
	for f in "$RUN"/kafka/kafka.pid "$RUN"/kafka/cluster-3/node-*/kafka.pid; do
		pid=$(pid_of "$f") && [ -n "$pid" ] && sum=$((sum + $(ticks "$pid" with-children)))
	done
	echo "kafka $sum"
	sum=0
	pid=$(pid_of "$RUN/postgres/data/postmaster.pid")
	if [ -n "$pid" ]; then
		sum=$(ticks "$pid" with-children)
		for child in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
			sum=$((sum + $(ticks "$child")))
		done
	fi
	echo "postgres $sum"
	pid=$(pid_of "$RUN/redis/redis.pid")
	echo "redis $([ -n "$pid" ] && ticks "$pid" with-children || echo 0)"
	for f in "$RUN"/pids/*.pid; do
		[ -f "$f" ] || continue
		pid=$(pid_of "$f")
		echo "$(basename "$f" .pid) $(ticks "$pid" with-children)"
	done
}

# Every daemon's admin port, from the manifest (name database port ...).
requests() {
	local port
	for port in $(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' deploy/services.conf | awk '{ print $3 }'); do
		curl -fsS --max-time 3 "http://127.0.0.1:$port/metrics" 2>/dev/null
	done | awk -F'[{}" ]+' '/^saga_kafka_requests_total/ { n[$3] += $NF } END { for (a in n) print a, n[a] }' |
		sort
}

case "${1:-}" in
cpu) cpu ;;
requests) requests ;;
*) echo "usage: $0 cpu|requests" >&2; exit 2 ;;
esac
