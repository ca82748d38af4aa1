# Sourced by tests/ui/run.sh and tests/ui/bench.sh: the gateway's metrics,
# read the way both need them.

# metric PREFIX: the sum of the gateway's samples whose line starts so.
metric() { curl -s http://127.0.0.1:9100/metrics | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }

# readers_open N: waits (up to 20 s) until the gateway counts N readers of
# its event stream; 1 (and a line on stderr) when it does not. One that
# left is counted until the gateway next writes to it (a keepalive, 5 s at
# most).
readers_open() {
	local i
	for i in $(seq 1 80); do
		[ "$(metric saga_sse_readers)" = "$1" ] && return 0
		sleep 0.25
	done
	echo "the gateway counts $(metric saga_sse_readers) readers, not $1" >&2
	return 1
}

# The event types the page's list asks the stream for (services/gateway/ui/app.js),
# so that the tests' and the bench's readers read what the page does.
page_types() { sed -n "s/^const STATUS_EVENTS = '\([A-Za-z,]*\)';$/\1/p" services/gateway/ui/app.js; }
