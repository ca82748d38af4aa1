# verdicts.sh - the checks of the test scripts, sourced (". tests/support/verdicts.sh"):
# each verdict is a line "ok   WHAT" or "FAIL WHAT", counted in passed and
# failed; the script ends with "NAME: $passed passed, $failed failed".

passed=0 failed=0

# check STATUS WHAT: STATUS 0 passes.
check() {
	if [ "$1" = 0 ]; then
		passed=$((passed + 1))
		echo "ok   $2"
	else
		failed=$((failed + 1))
		echo "FAIL $2"
	fi
}

# plain NAME COMMAND...: a step whose output ends in "N passed, N failed",
# added up; its output goes to $OUT/NAME.log, and all but its "ok" lines
# are shown. A step without that line counts as one failure.
plain() {
	local name=$1 line p f
	shift
	"$@" >"$OUT/$name.log" 2>&1
	sed 's/^/  /' "$OUT/$name.log" | grep -v '^  ok ' | tail -n 40
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$OUT/$name.log" | tail -n 1)
	p=$(sed -E 's/.*\b([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	[ -n "$line" ] || f=1
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	echo "$name: ${line:-no summary (see $OUT/$name.log)}"
}
