#!/usr/bin/env bash
# The Docker engine the compose stack needs. Usage: deploy/compose/engine.sh
# start|stop|status
#   start   installs Debian's docker.io, docker-compose and debootstrap when
#           missing; starts /usr/sbin/dockerd unless an engine answers, and
#           then remembers that it did (.run/dockerd/pid).
#   stop    stops the engine only if start started it; one that was already
#           running (a user's own) is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=$PWD/.run/dockerd
PIDFILE=$DIR/pid

say() { echo "[engine] $*"; }

answers() { timeout 10 docker info >/dev/null 2>&1; }

start() {
	bash deploy/local/install.sh docker.io docker-compose debootstrap
	if answers; then
		say "a Docker engine answers"
		return 0
	fi
	[ "$(id -u)" = 0 ] || { say "no Docker engine answers, and only root can start one" >&2; exit 1; }
	mkdir -p "$DIR"
	chmod 700 "$DIR"
	# The engine's own state stays where Debian's package keeps it, so images
	# (the base image above all) survive between runs.
	setsid /usr/sbin/dockerd --pidfile "$DIR/dockerd.pid" >"$DIR/dockerd.log" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	local deadline=$((SECONDS + 60))
	until answers; do
		if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null || [ $SECONDS -gt $deadline ]; then
			say "dockerd did not start; last lines of $DIR/dockerd.log:" >&2
			tail -n 20 "$DIR/dockerd.log" >&2
			rm -f "$PIDFILE"
			exit 1
		fi
		sleep 1
	done
	say "dockerd started (pid $(cat "$PIDFILE"))"
}

stop() {
	[ -f "$PIDFILE" ] || { say "no engine started here; nothing to stop"; return 0; }
	local pid
	pid=$(cat "$PIDFILE")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		local deadline=$((SECONDS + 30))
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -le $deadline ]; do sleep 1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		say "dockerd (pid $pid) stopped"
	fi
	rm -f "$PIDFILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
	answers || { say "no engine answers"; exit 1; }
	say "an engine answers$([ -f "$PIDFILE" ] && echo " (started here, pid $(cat "$PIDFILE"))")"
	;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
