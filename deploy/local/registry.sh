#!/usr/bin/env bash
# The schema registry of the native stack: Apicurio Registry (from Maven
# Central, run on Java 17), serving the Confluent-compatible API at
# http://127.0.0.1:REGISTRY_PORT/apis/ccompat/v7, its schemas kept in
# PostgreSQL (database and role schema_registry), so ids survive restarts.
#
# Every request authenticates (HTTP basic; passwords in .run/secrets.env,
# only their SHA-256 digests in the registry's settings):
#   saga-admin     sets the compatibility rules (the stack, tools, tests)
#   saga-services  the daemons: registers schemas, reads them
#   saga-reader    reads schemas, nothing else (other clients' consumers)
# Only /health is open. The rule for every subject is BACKWARD (the global
# default, set at each start): docs/operations.md says why.
# Usage: registry.sh fetch|start|stop|status|ready|pid, or run (foreground,
# a container)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PIDFILE=$REGISTRY_DIR/registry.pid
LOG=$REGISTRY_DIR/registry.log
SETTINGS=$REGISTRY_DIR/config/application.properties
JAR=$REGISTRY_HOME/apicurio-registry-app-$REGISTRY_VERSION-runner.jar
API=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7

fetch() {
	[ -f "$JAR" ] && return 0
	say "fetching Apicurio Registry $REGISTRY_VERSION from Maven Central (once)"
	rm -rf "$REGISTRY_HOME.tmp"
	mkdir -p "$REGISTRY_HOME.tmp"
	mvn -q -B dependency:copy \
		-Dartifact="io.apicurio:apicurio-registry-app:$REGISTRY_VERSION:tar.gz:all" \
		-DoutputDirectory="$REGISTRY_HOME.tmp" ||
		fail registry "" "maven could not fetch the registry"
	tar -xzf "$REGISTRY_HOME.tmp"/apicurio-registry-app-*.tar.gz -C "$REGISTRY_HOME.tmp"
	rm -f "$REGISTRY_HOME.tmp"/apicurio-registry-app-*.tar.gz
	rm -rf "$REGISTRY_HOME"
	mv "$REGISTRY_HOME.tmp" "$REGISTRY_HOME"
}

# digest USER PASSWORD: what Quarkus's embedded users compare with.
digest() { printf '%s:Quarkus:%s' "$1" "$2" | sha256sum | cut -c1-64; }

write_settings() {
	local db_host=${REGISTRY_DB_HOST:-127.0.0.1} db_port=${REGISTRY_DB_PORT:-$PG_PORT}
	mkdir -p "$REGISTRY_DIR/config"
	chmod 700 "$REGISTRY_DIR"
	(
		umask 077
		cat >"$SETTINGS.tmp" <<PROPS
quarkus.http.host=$REGISTRY_LISTEN_HOST
quarkus.http.port=$REGISTRY_PORT
quarkus.log.level=WARN
quarkus.log.category."io.apicurio".level=WARN
apicurio.storage.kind=sql
apicurio.storage.sql.kind=postgresql
apicurio.datasource.url=jdbc:postgresql://$db_host:$db_port/schema_registry
apicurio.datasource.username=schema_registry
apicurio.datasource.password=$(secret PG_PASSWORD_REGISTRY)
quarkus.http.auth.basic=true
quarkus.security.users.embedded.enabled=true
quarkus.security.users.embedded.plain-text=false
quarkus.security.users.embedded.algorithm=digest-sha-256
quarkus.security.users.embedded.users.saga-admin=$(digest saga-admin "$(secret REGISTRY_PASSWORD_ADMIN)")
quarkus.security.users.embedded.roles.saga-admin=admin,writer
quarkus.security.users.embedded.users.saga-services=$(digest saga-services "$(secret REGISTRY_PASSWORD_SERVICES)")
quarkus.security.users.embedded.roles.saga-services=writer
quarkus.security.users.embedded.users.saga-reader=$(digest saga-reader "$(secret REGISTRY_PASSWORD_READER)")
quarkus.security.users.embedded.roles.saga-reader=reader
quarkus.http.auth.policy.admin.roles-allowed=admin
quarkus.http.auth.policy.writer.roles-allowed=writer
# Reading: any user. Changing: the admin, but for registering a schema and
# asking whether one is compatible, which writers may do too.
quarkus.http.auth.permission.read.paths=/*
quarkus.http.auth.permission.read.methods=GET,HEAD
quarkus.http.auth.permission.read.policy=authenticated
quarkus.http.auth.permission.change.paths=/*
quarkus.http.auth.permission.change.methods=POST,PUT,DELETE,PATCH,OPTIONS
quarkus.http.auth.permission.change.policy=admin
quarkus.http.auth.permission.register.paths=/apis/ccompat/v7/subjects/*,/apis/ccompat/v7/compatibility/*
quarkus.http.auth.permission.register.methods=POST
quarkus.http.auth.permission.register.policy=writer
# (A path's most specific rule decides for it: its other methods again.)
quarkus.http.auth.permission.register-read.paths=/apis/ccompat/v7/subjects/*,/apis/ccompat/v7/compatibility/*
quarkus.http.auth.permission.register-read.methods=GET,HEAD
quarkus.http.auth.permission.register-read.policy=authenticated
quarkus.http.auth.permission.register-change.paths=/apis/ccompat/v7/subjects/*,/apis/ccompat/v7/compatibility/*
quarkus.http.auth.permission.register-change.methods=PUT,DELETE,PATCH,OPTIONS
quarkus.http.auth.permission.register-change.policy=admin
quarkus.http.auth.permission.health.paths=/health/*
quarkus.http.auth.permission.health.policy=permit
PROPS
	)
	mv "$SETTINGS.tmp" "$SETTINGS"
}

ready() {
	curl -fsS -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/health/ready"
}

admin_curl() {
	curl -fsS -K - "$@" <<CURL
user = "saga-admin:$(secret REGISTRY_PASSWORD_ADMIN)"
CURL
}

# Every subject's rule: BACKWARD, the registry-wide default (Apicurio's own is NONE).
set_rules() {
	admin_curl -X PUT -H 'Content-Type: application/json' \
		-d '{"compatibility":"BACKWARD"}' "$API/config" >/dev/null ||
		fail registry "$LOG" "could not set the compatibility rule"
}

java_cmd() {
	echo java -Xms64m -Xmx"$REGISTRY_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Djava.awt.headless=true -jar "$JAR"
}

start() {
	fetch
	write_settings
	if pid_alive "$PIDFILE" && ready; then
		say "schema registry already running on 127.0.0.1:$REGISTRY_PORT"
		set_rules
		return 0
	fi
	say "starting the schema registry on 127.0.0.1:$REGISTRY_PORT"
	local t0=$SECONDS
	(cd "$REGISTRY_DIR" && exec nohup $(java_cmd) </dev/null >>"$LOG" 2>&1) &
	echo $! >"$PIDFILE"
	wait_until "$READY_TIMEOUT" ready_or_dead "$PIDFILE" ready
	pid_alive "$PIDFILE" || fail registry "$LOG" "exited during startup"
	ready || fail registry "$LOG" "not ready after ${READY_TIMEOUT}s"
	set_rules
	say "schema registry ready in $((SECONDS - t0)) s"
}

stop() {
	pid_alive "$PIDFILE" && stop_pidfile registry "$PIDFILE"
	rm -f "$PIDFILE"
}

# In a container (compose): the passwords from the environment, the
# database at REGISTRY_DB_HOST, the registry in the foreground; the rule is
# set once it answers. SIGTERM reaches the JVM.
run() {
	local pid
	secrets_from_env 'REGISTRY_PASSWORD_\|PG_PASSWORD_REGISTRY'
	write_settings
	cd "$REGISTRY_DIR"
	$(java_cmd) &
	pid=$!
	trap 'kill -TERM $pid' TERM INT
	wait_until "$READY_TIMEOUT" ready && set_rules && say "schema registry ready" ||
		warn "the registry did not become ready; its rule is not set"
	wait $pid
	trap - TERM INT
	wait $pid
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
stop) stop ;;
run) run ;;
ready) ready ;;
rules) set_rules ;;
pid) pid_alive "$PIDFILE" && head -n 1 "$PIDFILE" ;;
status) if ready; then echo "registry: ready on 127.0.0.1:$REGISTRY_PORT"; else echo "registry: down"; exit 1; fi ;;
*) echo "usage: $0 fetch|start|stop|status|run|ready|rules|pid" >&2; exit 2 ;;
esac
