#!/usr/bin/env bash
# Runs the test suites: unit tests, then the integration suites in file order
# against the real stack (started here if it is not running, and stopped
# again afterwards), the e2e suites, the contract test, the page and its
# event stream (tests/ui: a real browser), the schema registry
# suite (tests/registry: a rolling switch, the e2e suites again in the
# Confluent framing, Confluent's Python client), chaos and replay, then the
# compose stack in Docker beside it. Ends with one summary line: "tests: N
# passed, N failed".
# Usage: tests/run.sh [BUILD_DIR] [all|unit|integration|e2e|compose]
set -uo pipefail
cd "$(dirname "$0")/.."

export BUILD_DIR=${1:-build/asan}
WHAT=${2:-all}
# The suites run the daemons with single-object encoding; the registry
# suite (tests/registry) switches them to the schema registry itself.
export SCHEMA_REGISTRY=off
# A build without sanitizers for the valgrind runs (make test builds it).
VALGRIND_BUILD_DIR=${VALGRIND_BUILD_DIR:-build/release}
LOG_DIR=.run/logs
mkdir -p "$LOG_DIR"

# Sanitizers: any report fails the run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}

passed=0
failed=0
broken=()

# The stack's settings for the suites, without the registry's URL (which
# would make the suites' own codec write the Confluent framing).
stack_env() {
	set -a
	. .run/stack.env
	set +a
	unset SCHEMA_REGISTRY_URL SCHEMA_REGISTRY_USER SCHEMA_REGISTRY_PASSWORD
}

# run_suite NAME BINARY [ARGS]: runs one Criterion binary, adds up its synthesis.
run_suite() {
	local name=$1 bin=$2 out line t n p f c
	shift 2
	out=$LOG_DIR/test-$name.log
	echo "=== $name"
	local t0=$SECONDS
	# SUITE_WRAPPER: a command the suite runs under (valgrind).
	${SUITE_WRAPPER:-} "$bin" --jobs=1 --verbose "$@" >"$out" 2>&1
	local rc=$?
	grep -E '^\[(PASS|FAIL|SKIP|----)\]|^\[ERR' "$out" | grep -v '^\[----\] *$' | sed 's/^/  /'
	line=$(grep -a 'Synthesis:' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "  $name: no test summary (exit $rc); last lines of $out:"
		tail -n 30 "$out" | sed 's/^/    /'
		broken+=("$name")
		failed=$((failed + 1))
		return
	fi
	t=$(sed -E 's/.*Tested: ([0-9]+).*/\1/' <<<"$line")
	p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
	f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")
	c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f))
	echo "  $name: $p of $t passed, $f failed ($c crashed) in $((SECONDS - t0)) s"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# A sanitizer report after the tests, or a crash outside them.
		echo "  $name: exited $rc; last lines of $out:"
		tail -n 30 "$out" | sed 's/^/    /'
		broken+=("$name")
		failed=$((failed + 1))
	elif [ "$f" -ne 0 ]; then
		broken+=("$name")
	fi
}

# run_plain NAME COMMAND...: a check whose last line is "N passed, N failed".
run_plain() {
	local name=$1 out=$LOG_DIR/test-$1.log line p f t0=$SECONDS
	shift
	echo "=== $name"
	if "$@" >"$out" 2>&1; then
		line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
		p=$(sed -E 's/(^|.* )([0-9]+) passed.*/\2/' <<<"$line")
		f=$(sed -E 's/(^|.* )([0-9]+) failed.*/\2/' <<<"$line")
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0}))
		echo "  $line (in $((SECONDS - t0)) s)"
	else
		echo "  $name failed after $((SECONDS - t0)) s; last lines of $out:"
		tail -n 30 "$out" | sed 's/^/    /'
		broken+=("$name")
		failed=$((failed + 1))
	fi
}

if [ "$WHAT" = all ] || [ "$WHAT" = unit ]; then
	run_suite unit "$BUILD_DIR/tests/bin/unit"
	run_plain compose-check /usr/bin/python3 tests/compose/check.py
	run_plain events-doc /usr/bin/python3 tools/events-doc.py --check
	run_plain schemas-make bash tests/schemas-check/make-fails.sh
	run_plain manifest /usr/bin/python3 tools/manifest.py --check
	for bin in "$BUILD_DIR"/tests/bin/fuzz-replay-*; do
		[ -x "$bin" ] || continue
		target=${bin##*/fuzz-replay-}
		run_plain "$(basename "$bin")" "$bin" tests/fuzz/corpus/"$target"/*
	done
fi

if [ "$WHAT" = all ] || [ "$WHAT" = integration ]; then
	started_here=0
	if ! bash deploy/local/stack.sh status >/dev/null 2>&1; then
		started_here=1
	fi
	t0=$SECONDS
	if ! BUILD_DIR=$BUILD_DIR bash deploy/local/stack.sh up; then
		echo "tests: the stack did not start"
		echo "tests: $passed passed, $((failed + 1)) failed"
		exit 1
	fi
	echo "stack up in $((SECONDS - t0)) s"
	stack_env
	for bin in "$BUILD_DIR"/tests/bin/[0-9]*; do
		[ -x "$bin" ] || continue
		run_suite "$(basename "$bin")" "$bin"
	done
	run_plain new-service bash tests/new-service/check.sh
	# Every check of check-invariants fails on its violation, planted.
	BUILD_DIR=$BUILD_DIR run_plain checker bash tests/checker/check.sh
	if [ "$WHAT" = all ]; then
		# valgrind's memcheck on a build without sanitizers: the unit tests, and the
		# plumbing suites with their daemons under valgrind. Any error fails the run.
		VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
		VG+=" --show-leak-kinds=definite"
		BUILD_DIR=$VALGRIND_BUILD_DIR SUITE_WRAPPER="$VG --trace-children=yes" \
			run_suite valgrind-unit "$VALGRIND_BUILD_DIR/tests/bin/unit"
		for suite in 05_plumbing 07_template; do
			harness=$BUILD_DIR/tests/bin/$suite # spawns $VALGRIND_BUILD_DIR's daemons
			BUILD_DIR=$VALGRIND_BUILD_DIR SUPPORT_WRAPPER=$VG run_suite "valgrind-$suite" "$harness"
		done
	fi
fi

if [ "$WHAT" = all ] || [ "$WHAT" = e2e ]; then
	if [ "$WHAT" = e2e ]; then
		started_here=0
		bash deploy/local/stack.sh status >/dev/null 2>&1 || started_here=1
		BUILD_DIR=$BUILD_DIR bash deploy/local/stack.sh up >/dev/null || exit 1
		stack_env
	fi
	# The whole saga: every daemon, built with the sanitizers.
	BUILD_DIR=$BUILD_DIR bash deploy/local/daemons.sh stop >/dev/null 2>&1
	if BUILD_DIR=$BUILD_DIR bash deploy/local/daemons.sh start; then
		for bin in "$BUILD_DIR"/tests/bin/e2e-[0-9]*; do
			[ -x "$bin" ] || continue
			run_suite "$(basename "$bin")" "$bin"
		done
	else
		echo "the daemons did not start"
		broken+=("daemons")
		failed=$((failed + 1))
	fi
	# The HTTP API against its OpenAPI document, by a property-based client.
	run_plain contract bash tests/contract/run.sh
	# The page at /ui/ in a real browser, and the event stream behind it
	# (200 readers under load, a reader that stops reading).
	BUILD_DIR=$BUILD_DIR run_plain ui bash tests/ui/run.sh
	# The saga with the schema registry: a rolling switch, the e2e suite
	# again, Confluent's Python client, the registry as the contract gate
	# and down. The daemons stay on it for the secrets check.
	registry_here=0
	bash deploy/local/registry.sh ready >/dev/null 2>&1 || registry_here=1
	BUILD_DIR=$BUILD_DIR run_plain registry bash tests/registry/run.sh
	BUILD_DIR=$BUILD_DIR run_plain secrets bash tests/secrets/check.sh
	bash deploy/local/daemons.sh stop
	# The topics now hold both framings: from here on the daemons read
	# through the registry (and write single-object encoding).
	export SCHEMA_REGISTRY=read
	if [ "$WHAT" = all ]; then
		# The saga under crashes and freezes (two instances of every daemon,
		# every kind of fault at least once), then a replay of every topic
		# that must change nothing. make chaos runs the long ones.
		BUILD_DIR=$BUILD_DIR SEED=${CHAOS_SEED:-1} RATE=${CHAOS_RATE:-25} DURATION=${CHAOS_DURATION:-120} \
			FREEZE_S=10-12 INFRA_GAP_S=2-4 REQUIRE_ALL=1 run_plain chaos bash tests/chaos/run.sh
		BUILD_DIR=$BUILD_DIR DAEMON_INSTANCES=2 run_plain replay bash tests/chaos/replay.sh
		bash deploy/local/daemons.sh stop
	fi
	[ "$registry_here" = 1 ] && bash deploy/local/registry.sh stop
	# A daemon, or a suite's own process, that exited with a sanitizer
	# report fails the run: every daemon's log (the stack's and the
	# integration tests') and every suite's (a leak in a test's child
	# process does not fail its test).
	if ls .run/logs/*.log | xargs grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'; then
		echo "sanitizer reports in the logs (above)"
		broken+=("sanitizers")
		failed=$((failed + 1))
	fi
fi

if [ "$WHAT" = all ] || [ "$WHAT" = compose ]; then
	# The compose stack, in Docker, beside the native stack (still up here,
	# and checked to be untouched): built, up, tested end to end, down.
	run_plain compose bash tests/compose/run.sh
fi

if [ "$WHAT" = all ] || [ "$WHAT" = integration ] || [ "$WHAT" = e2e ]; then
	if [ "$started_here" = 1 ] && [ -z "${KEEP_STACK:-}" ]; then
		bash deploy/local/stack.sh down
	fi
fi

echo
if [ ${#broken[@]} -gt 0 ]; then
	# What failed, again at the end: a CI log is often read from its tail.
	for name in "${broken[@]}"; do
		out=$LOG_DIR/test-$name.log
		[ -f "$out" ] || continue
		echo "--- $name: what failed ($out)"
		grep -a -E '^\[FAIL\]|Assertion Failed|^\[----\]   |^ *FAIL |^\[ERR' "$out" | head -n 40 |
			sed 's/^/  /'
	done
	echo "failing suites: ${broken[*]} (logs in $LOG_DIR/)"
fi
echo "tests: $passed passed, $failed failed (in $((SECONDS / 60)) min $((SECONDS % 60)) s)"
[ "$failed" -eq 0 ]
