#!/usr/bin/env bash
# Redis for the native stack, on its own port and directory.
# Usage: redis.sh start|stop|status
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PIDFILE=$REDIS_DIR/redis.pid
LOG=$REDIS_DIR/redis.log

ready() {
	[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

start() {
	mkdir -p "$REDIS_DIR"
	if pid_alive "$PIDFILE" && ready; then
		say "redis already running on 127.0.0.1:$REDIS_PORT"
		return 0
	fi
	say "starting redis on 127.0.0.1:$REDIS_PORT"
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
		--dir "$REDIS_DIR" --pidfile "$PIDFILE" --logfile "$LOG" \
		--appendonly yes --appendfsync everysec --save "" \
		--auto-aof-rewrite-min-size 512mb --auto-aof-rewrite-percentage 200 ||
		fail redis "$LOG" "redis-server did not start"
	wait_until "$READY_TIMEOUT" ready || fail redis "$LOG" "not ready after ${READY_TIMEOUT}s"
	say "redis ready"
}

case "${1:-}" in
start) start ;;
stop) stop_pidfile redis "$PIDFILE" ;;
status) if ready; then echo "redis: ready on 127.0.0.1:$REDIS_PORT"; else echo "redis: down"; exit 1; fi ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
