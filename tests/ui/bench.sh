#!/usr/bin/env bash
# make bench-stream: what readers of GET /v1/events cost the saga. Against
# the running stack, ROUNDS times (4): RATE orders/s (300) for DURATION s
# (20) without readers, then the same with READERS (200) reading as the page
# does (FILTER: the events that move an order's status, brief, and every
# event of one order). Compares, over every round's orders together (a p99
# of one 20-second run rests on its 60 slowest orders: too few), the
# orders' accept and confirm latency (p50, p99) and the projector's lag, as
# how old events are when it applies them (saga_readmodel_event_age_seconds,
# every event) and as messages (saga_consumer_lag, sampled twice a second);
# then each round's own change, for the spread; and the cores the stack, its
# gateway and the readers used (/proc).
#
# The readers share this machine's two cores with the stack as equals
# (READER_PRIORITY=normal, the default); READER_PRIORITY=idle runs them at
# SCHED_IDLE, as if they were elsewhere (measured: no better, as readers
# that read late leave the gateway more partial writes to finish).
# The stack is first loaded at RATE for WARMUP_S (120) s, not measured (a
# stack started minutes ago does the same load on more CPU: the broker's
# JIT compiler, PostgreSQL's first vacuums). Rounds alternate which run
# goes first; every run starts REST_S (8) s after the previous one ended;
# a run that a rewrite of Redis's append-only file overlapped is run again
# (see rewrites() below); a round in which a reader was refused or dropped
# fails the bench.
# Writes .run/bench-stream/<time>/results.json; prints the comparison.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
ROUNDS=${ROUNDS:-4} RATE=${RATE:-300} DURATION=${DURATION:-20} READERS=${READERS:-200}
REST_S=${REST_S:-8} WARMUP_S=${WARMUP_S:-120}
PRIORITY=${READER_PRIORITY:-normal}
OUT=.run/bench-stream/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
set -a
. .run/stack.env
set +a
. tests/ui/gateway.sh
# What each reader asks for: by default what the page's list does.
FILTER=${FILTER:-types=$(page_types)&follow=none&view=brief}
age() { echo "$(metric saga_readmodel_event_age_seconds_sum) $(metric saga_readmodel_event_age_seconds_count)"; }

# Redis rewrites its append-only file now and then (every 9 minutes or so
# at 300/s), and under this load the orders' latency reaches seconds while
# it does (docs/performance.md), readers or not: a run it overlapped
# measures the rewrite, and is run again. Redis's own counters say (its log
# does not: a Redis killed during a rewrite never logs its end).
# rewrites: "<rewrites done> <one in progress: 0 or 1>", from one INFO.
rewrites() {
	redis-cli -u "$REDIS_URL" --no-auth-warning INFO persistence 2>/dev/null | tr -d '\r' |
		awk -F: '$1 == "aof_rewrites" { n = $2 } $1 == "aof_rewrite_in_progress" { p = $2 }
		         END { print n + 0, p + 0 }'
}
rewrite_over() {
	local i
	for i in $(seq 1 240); do
		[ "$(rewrites | cut -d' ' -f2)" = 1 ] || return 0
		sleep 0.5
	done
}

# cpu: the CPU ticks of the stack's processes (tests/load/procs.sh) and of
# the readers (while they run).
readers_pid=
cpu() {
	echo "wall $(date +%s.%N)"
	bash tests/load/procs.sh cpu
	[ -z "$readers_pid" ] || echo "readers $(bash tests/load/procs.sh ticks "$readers_pid")"
}

# rest NAME: every run starts REST_S seconds after the previous one ended
# (readers connect and leave within that time): a run that follows a longer
# pause finds a stack that has settled more (the previous run's vacuum, log
# flushes, checkpoints), and used to make the runs with readers, which
# waited for them to connect, look faster than they were. The rest each run
# had is kept in NAME-rest.txt.
last_end=
rest() {
	local now left
	[ -n "$last_end" ] || return 0
	now=$(date +%s.%N)
	left=$(awk -v e="$last_end" -v r="$REST_S" -v n="$now" 'BEGIN { l = e + r - n; print (l > 0 ? l : 0) }')
	sleep "$left"
	awk -v e="$last_end" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", n - e }' >"$OUT/$1-rest.txt"
}

# load NAME: one load, its latencies, the event age, the lag samples and
# the CPU spent.
load() {
	local pid end
	rest "$1"
	age >"$OUT/$1-age.txt"
	cpu >"$OUT/$1-cpu.txt"
	RATE=$RATE DURATION=$DURATION DRAIN_S=60 OUT_DIR=$OUT/$1 "$BUILD_DIR/bin/loadgen" >"$OUT/$1.log" 2>&1 &
	pid=$!
	end=$((SECONDS + DURATION))
	while [ $SECONDS -lt $end ]; do
		metric 'saga_consumer_lag{group="gateway"'
		sleep 0.5
	done >"$OUT/$1-lag.txt"
	wait $pid
	last_end=$(date +%s.%N)
	age >>"$OUT/$1-age.txt"
	cpu >>"$OUT/$1-cpu.txt"
}

# run NAME: a load no rewrite of Redis overlapped (three tries; the ones
# it did are kept as NAME.rewrite-K).
run() {
	local try before
	for try in 1 2 3; do
		rewrite_over
		before=$(rewrites)
		load "$1"
		[ "$(rewrites)" = "$before" ] && return 0
		echo "$1: Redis rewrote its append-only file during the run; running it again"
		for f in "$OUT/$1" "$OUT/$1.log" "$OUT/$1-age.txt" "$OUT/$1-lag.txt" "$OUT/$1-cpu.txt"; do
			mv "$f" "${f/$1/$1.rewrite-$try}"
		done
		echo "$1" >>"$OUT/rewrites.txt"
	done
	rewrite_over
	load "$1"
}

wrap=()
[ "$PRIORITY" = idle ] && wrap=(chrt --idle 0)
# with_readers R: run readers-R with the readers connected.
with_readers() {
	readers_open 0
	"${wrap[@]}" "$BUILD_DIR/bin/sse-readers" "$GATEWAY_URL" "$READERS" 600 0 \
		"$FILTER" \
		>"$OUT/readers-$1.txt" 2>&1 &
	readers_pid=$!
	readers_open "$READERS"
	run "readers-$1"
	sleep 1 # the last frames reach the readers (the gateway writes every EVENTS_FLUSH_MS, 500)
	kill -TERM $readers_pid
	wait $readers_pid
	readers_pid=
	cat "$OUT/readers-$1.txt"
	readers_open 0
}

DURATION=$WARMUP_S run warm-up
# Rounds alternate which run goes first (quiet, readers; readers, quiet; ...):
# a stack that slows down as its data grows slows both alike.
for r in $(seq 1 "$ROUNDS"); do
	echo "round $r of $ROUNDS"
	if [ $((r % 2)) = 1 ]; then
		run "quiet-$r"
		with_readers "$r"
	else
		with_readers "$r"
		run "quiet-$r"
	fi
done
python3 - "$OUT" "$ROUNDS" "$RATE" "$READERS" "$PRIORITY" "$FILTER" <<'PY' | tee "$OUT/summary.txt"
import json, os, re, statistics, sys
out, rounds, rate, readers, priority, filt = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                              int(sys.argv[4]), sys.argv[5], sys.argv[6])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(len(v) * p / 100) - 1))] if v else None
TICK = os.sysconf("SC_CLK_TCK")
def cores(name):
    """The cores the stack, its gateway and the readers used during the run."""
    before, after = {}, {}
    for line in open(f"{out}/{name}-cpu.txt"):
        k, v = line.split()
        (after if k in before else before)[k] = float(v)
    wall = after.pop("wall") - before.pop("wall")
    used = {k: (after[k] - before.get(k, 0)) / TICK / wall for k in after}
    return {"stack_cores": sum(v for k, v in used.items() if k != "readers"),
            "gateway_cores": used.get("gateway", 0), "readers_cores": used.get("readers", 0)}
def samples(name):
    """A run's raw figures: accept and confirm latencies, event age, lag samples."""
    acc = [float(l.split("\t")[2]) for l in open(f"{out}/{name}/accept.tsv").read().splitlines()[1:]
           if l.split("\t")[1] == "202"]
    conf = [float(l.split("\t")[1]) for l in open(f"{out}/{name}/e2e.tsv").read().splitlines()[1:]
            if float(l.split("\t")[1]) >= 0]
    lag = [float(x) for x in open(f"{out}/{name}-lag.txt").read().split()]
    (s0, c0), (s1, c1) = [map(float, l.split()) for l in open(f"{out}/{name}-age.txt")]
    return {"accept": acc, "confirmed": conf, "lag": lag, "age_s": s1 - s0, "age_n": c1 - c0}
def figures(x):
    """What is compared, from one run's samples or several runs' pooled."""
    return {"accept_p50_ms": pct(x["accept"], 50), "accept_p99_ms": pct(x["accept"], 99),
            "confirmed_p50_ms": pct(x["confirmed"], 50), "confirmed_p99_ms": pct(x["confirmed"], 99),
            "event_age_mean_ms": 1000 * x["age_s"] / max(1, x["age_n"]),
            "lag_mean_messages": sum(x["lag"]) / max(1, len(x["lag"]))}
def pooled(xs):
    return {k: (sum((x[k] for x in xs), []) if isinstance(xs[0][k], list) else sum(x[k] for x in xs))
            for k in xs[0]}
names = {k: [f"{k}-{r}" for r in range(1, rounds + 1)] for k in ("quiet", "readers")}
raw = {k: [samples(n) for n in v] for k, v in names.items()}
runs = {k: [{**cores(n), **figures(x)} for n, x in zip(names[k], raw[k])] for k in names}
# The whole comparison: every round's orders together, without and with readers.
total = {k: {**{m: statistics.median(r[m] for r in runs[k]) for m in ("stack_cores", "gateway_cores",
                                                                       "readers_cores")},
             **figures(pooled(raw[k]))} for k in names}
# Every reader connected, and none ended early (a reader dropped is one fewer).
broken = [r for r in range(1, rounds + 1)
          if not re.search(rf"readers={readers} connected={readers} .* ended_early=0 ",
                           open(f"{out}/readers-{r}.txt").read())]
# Each round's change (its two runs ran back to back): its median and spread.
paired = {m: sorted(100 * (w[m] - q[m]) / q[m] for q, w in zip(runs["quiet"], runs["readers"]) if q[m])
          for m in runs["quiet"][0]}
try:
    again = open(f"{out}/rewrites.txt").read().split()
except FileNotFoundError:
    again = []
res = {"rate": rate, "readers": readers, "reader_priority": priority, "filter": filt, "rounds": runs,
       "all_rounds": total, "round_change_pct": paired,
       "rounds_with_readers_lost": broken, "runs_again_for_a_redis_rewrite": again}
json.dump(res, open(f"{out}/results.json", "w"), indent=1)
print(f"{readers} readers ({priority} priority, {filt}), {rate} orders/s, {rounds} rounds;")
print("latency and lag over every round's orders together (cores: the median run),")
print("then the median (lowest, highest) of the rounds' own changes:")
for m in total["quiet"]:
    a, b = total["quiet"][m], total["readers"][m]
    change = f"{100 * (b - a) / a:+6.1f} %" if a else "        "
    p = paired[m]
    spread = f"{statistics.median(p):+6.1f} % ({p[0]:+.1f} .. {p[-1]:+.1f})" if p else ""
    print(f"  {m:20} without {a:8.2f}  with {b:8.2f}  {change}   rounds {spread}")
def rests(k):
    return sorted(float(open(f"{out}/{n}-rest.txt").read()) for n in names[k]
                  if os.path.exists(f"{out}/{n}-rest.txt"))
r0, r1 = rests("quiet"), rests("readers")
if r0 and r1:
    print(f"  rest before each run: without {r0[0]:.1f} .. {r0[-1]:.1f} s, with {r1[0]:.1f} .. {r1[-1]:.1f} s")
if again:
    print(f"  run again as Redis rewrote its append-only file during them: {' '.join(again)}")
print(f"results: {out}/results.json")
if broken:
    print(f"NOT A MEASUREMENT: in rounds {broken} not every reader read to the end "
          f"(see {out}/readers-N.txt)")
    sys.exit(1)
PY
