#!/usr/bin/env bash
# Redis for the native stack, on its own port and directory, with ACL users
# (passwords in .run/secrets.env; the ACL file holds only their SHA-256):
#   default   the admin (tools, tests): every command, every key
#   gateway   the gateway: its read model, idempotency and rate-limit keys,
#             and only the commands it sends
#   checker   check-invariants: reads, nothing else
# The admin keeps every right so that replaying the append-only file (which
# runs as the default user) is never refused.
# Usage: redis.sh start|stop|status, or run (foreground, a container) and ready
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PIDFILE=$REDIS_DIR/redis.pid
LOG=$REDIS_DIR/redis.log
ACL_FILE=$REDIS_DIR/users.acl

# The gateway's key patterns and commands (common/readmodel.h, services/gateway).
GATEWAY_KEYS="~order:* ~orders:* ~product:* ~products ~readmodel:* ~idem:* ~rl:*"
GATEWAY_COMMANDS="+ping +select +auth +get +set +incr +expire +hget +hset +hsetnx +hgetall +hmget
	+lrange +rpush +zadd +zrem +zcard +zrange +zrangebylex +zremrangebyscore +zremrangebylex +zremrangebyrank +hincrby +exists +expireat +expiretime +evalsha +script|load +multi +exec +discard"

redis_cli() { REDISCLI_AUTH=$(secret REDIS_PASSWORD_ADMIN) redis-cli --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

ready() {
	[ "$(redis_cli ping 2>/dev/null)" = PONG ]
}

# Redis without a password answers anyone: an instance started before the ACL.
open_to_all() {
	[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

sha() { printf '%s' "$1" | sha256sum | cut -c1-64; }

write_acl() {
	(
		umask 077
		cat >"$ACL_FILE.tmp" <<ACL
user default on #$(sha "$(secret REDIS_PASSWORD_ADMIN)") ~* &* +@all
user gateway on #$(sha "$(secret REDIS_PASSWORD_GATEWAY)") resetchannels $GATEWAY_KEYS -@all $(echo $GATEWAY_COMMANDS)
user checker on #$(sha "$(secret REDIS_PASSWORD_CHECKER)") resetchannels ~* -@all +@read -@dangerous +ping +select +auth
ACL
	)
	mv "$ACL_FILE.tmp" "$ACL_FILE"
}

start() {
	mkdir -p "$REDIS_DIR"
	chmod 700 "$REDIS_DIR"
	write_acl
	if pid_alive "$PIDFILE" && open_to_all; then
		say "redis on 127.0.0.1:$REDIS_PORT has no users yet; restarting it with them"
		stop_pidfile redis "$PIDFILE"
	fi
	if pid_alive "$PIDFILE" && ready; then
		redis_cli ACL LOAD >/dev/null || fail redis "$LOG" "could not reload $ACL_FILE"
		say "redis already running on 127.0.0.1:$REDIS_PORT (users reloaded)"
		return 0
	fi
	say "starting redis on 127.0.0.1:$REDIS_PORT"
	redis-server --bind "$REDIS_LISTEN_HOST" --port "$REDIS_PORT" --daemonize yes \
		--dir "$REDIS_DIR" --pidfile "$PIDFILE" --logfile "$LOG" --aclfile "$ACL_FILE" \
		--appendonly yes --appendfsync everysec --save "" \
		--auto-aof-rewrite-min-size 512mb --auto-aof-rewrite-percentage 200 ||
		fail redis "$LOG" "redis-server did not start"
	wait_until "$READY_TIMEOUT" ready || fail redis "$LOG" "not ready after ${READY_TIMEOUT}s"
	say "redis ready"
}

stop() {
	if pid_alive "$PIDFILE"; then
		stop_pidfile redis "$PIDFILE"
	fi
}

# In a container (compose): the users from the environment's REDIS_PASSWORD_*,
# then the server in the foreground.
run() {
	mkdir -p "$REDIS_DIR"
	chmod 700 "$REDIS_DIR"
	secrets_from_env REDIS_PASSWORD_
	write_acl
	exec redis-server --bind "$REDIS_LISTEN_HOST" --port "$REDIS_PORT" --dir "$REDIS_DIR" \
		--aclfile "$ACL_FILE" --appendonly yes --appendfsync everysec --save "" \
		--auto-aof-rewrite-min-size 512mb --auto-aof-rewrite-percentage 200
}

case "${1:-}" in
start) start ;;
run) run ;;
ready) ready ;;
stop) stop ;;
status) if ready; then echo "redis: ready on 127.0.0.1:$REDIS_PORT"; else echo "redis: down"; exit 1; fi ;;
*) echo "usage: $0 start|stop|status|run|ready" >&2; exit 2 ;;
esac
