#!/usr/bin/env bash
# Apache Kafka for the native stack: one combined broker+controller in KRaft
# mode, jars fetched once from Maven Central (pom.xml beside this file).
# Usage: kafka.sh fetch|start|stop|status, or run (in the foreground, for a container)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PIDFILE=$KAFKA_DIR/kafka.pid
LOG=$KAFKA_DIR/server.log

fetch() {
	if [ -f "$KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar" ]; then
		return 0
	fi
	say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central (once)"
	mkdir -p "$KAFKA_LIB.tmp"
	mvn -q -B -f "$ROOT/deploy/local/pom.xml" \
		-Dkafka.version="$KAFKA_VERSION" \
		dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB.tmp" ||
		fail kafka "" "maven could not fetch the broker's jars"
	rm -rf "$KAFKA_LIB"
	mv "$KAFKA_LIB.tmp" "$KAFKA_LIB"
}

java_run() {
	exec_java "" "$@"
}

# exec_java PREFIX ARGS...: run the JVM with the broker's classpath; PREFIX
# "exec" replaces the shell (used for the daemonised broker).
exec_java() {
	local prefix=$1
	shift
	$prefix java -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true \
		-Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
		-Dkafka.logs.dir="$KAFKA_DIR" \
		-cp "$KAFKA_LIB/*" "$@"
}

# The broker's TLS key and certificate, signed by a CA of this stack (both
# made once; ca.pem is what a client trusts, KAFKA_SSL_CA_LOCATION).
make_tls() {
	local d=$KAFKA_DIR/tls
	[ -f "$d/broker-keystore.pem" ] && return 0
	mkdir -p "$d"
	chmod 700 "$d"
	(
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=saga local stack CA" \
			-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
			-keyout "$d/broker.key" -out "$d/broker.csr" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
			"$KAFKA_ADVERTISED_HOST" >"$d/ext"
		openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
			-CAcreateserial -days 825 -extfile "$d/ext" -out "$d/broker.pem" 2>/dev/null
		cat "$d/broker.key" "$d/broker.pem" >"$d/broker-keystore.pem"
	) || fail kafka "" "could not make the TLS certificates"
	chmod 644 "$d/ca.pem" # public: what clients verify the broker with
	chmod 711 "$d"
}

# java_hidden ARGS...: the JVM with the broker's classpath and ARGS read from a
# mode-600 argument file, so no password shows in the process list.
java_hidden() {
	local args=$KAFKA_DIR/.args.$$ a
	(umask 077 && : >"$args")
	{
		# The classpath spelled out: an argument file's wildcards are not expanded.
		printf '%s\n' -Xmx256m -cp "$(printf '%s:' "$KAFKA_LIB"/*.jar)" "-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties" \
			"-Dkafka.logs.dir=$KAFKA_DIR"
		for a in "$@"; do printf '"%s"\n' "$a"; done
	} >"$args"
	java "@$args"
	local rc=$?
	rm -f "$args"
	return $rc
}

# The principals with SCRAM credentials, one "name sha256(password)" line
# each: a principal whose line is missing or stale gets its credential set.
SCRAM_USERS=$KAFKA_DIR/scram-users

scram_line() { printf '%s %s\n' "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-64)"; }

write_sasl_configs() {
	local admin_pw controller_pw
	admin_pw=$(secret KAFKA_PASSWORD_ADMIN)
	controller_pw=$(secret KAFKA_PASSWORD_CONTROLLER)
	(
		umask 077
		cat >"$KAFKA_DIR/admin.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
PROPS
		cat >"$KAFKA_DIR/kcat.conf" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanisms=SCRAM-SHA-512
sasl.username=admin
sasl.password=$admin_pw
PROPS
	)
	cat <<PROPS
listeners=CLIENT://$KAFKA_LISTEN_HOST:$KAFKA_PORT,TLS://$KAFKA_LISTEN_HOST:$KAFKA_TLS_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=CLIENT://$KAFKA_ADVERTISED_HOST:$KAFKA_PORT,TLS://$KAFKA_ADVERTISED_HOST:$KAFKA_TLS_PORT
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,TLS:SASL_SSL,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
# Clients: SASL/SCRAM-SHA-512, credentials in the cluster metadata.
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
listener.name.tls.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_DIR/tls/broker-keystore.pem
# The controller's own listener: PLAIN with one user (SCRAM credentials live
# in the metadata the controller serves, so it cannot use them itself).
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$controller_pw" user_controller="$controller_pw";
# Nothing is allowed that no ACL allows (deploy/kafka-acls.conf).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller
PROPS
}

write_plaintext_configs() {
	cat <<PROPS
listeners=PLAINTEXT://$KAFKA_LISTEN_HOST:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_ADVERTISED_HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
PROPS
}

configure() {
	local security
	mkdir -p "$KAFKA_DIR/data"
	chmod 700 "$KAFKA_DIR"
	case "$KAFKA_SECURITY" in
	sasl) make_tls; security=$(write_sasl_configs) ;;
	plaintext) security=$(write_plaintext_configs) ;;
	*) fail kafka "" "KAFKA_SECURITY must be sasl or plaintext, not '$KAFKA_SECURITY'" ;;
	esac
	(umask 077 && cat >"$KAFKA_DIR/server.properties") <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
$security
log.dirs=$KAFKA_DIR/data
num.partitions=$KAFKA_PARTITIONS
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=134217728
PROPS
	cat >"$KAFKA_DIR/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
PROPS
	# Data formatted under the other security mode cannot be reused: its
	# metadata has no credentials (or ones no client uses). It is kept aside.
	if [ -f "$KAFKA_DIR/data/meta.properties" ] &&
		[ "$(cat "$KAFKA_DIR/security" 2>/dev/null || echo plaintext)" != "$KAFKA_SECURITY" ]; then
		local aside=$KAFKA_DIR/data.$(cat "$KAFKA_DIR/security" 2>/dev/null || echo plaintext).$(date +%s)
		say "kafka data was made without KAFKA_SECURITY=$KAFKA_SECURITY; moved to $aside"
		mv "$KAFKA_DIR/data" "$aside"
		mkdir -p "$KAFKA_DIR/data"
		rm -f "$SCRAM_USERS"
	fi
	if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
		local id scram=() name pw
		id=$(java_run kafka.tools.StorageTool random-uuid 2>>"$LOG")
		: >"$SCRAM_USERS.new"
		if [ "$KAFKA_SECURITY" = sasl ]; then
			# Every principal's SCRAM credential goes into the first metadata.
			for name in admin $KAFKA_PRINCIPALS; do
				pw=$(secret "KAFKA_PASSWORD_$(tr '[:lower:]' '[:upper:]' <<<"$name")")
				scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$pw]")
				scram_line "$name" "$pw" >>"$SCRAM_USERS.new"
			done
		fi
		java_hidden kafka.tools.StorageTool format -t "$id" \
			-c "$KAFKA_DIR/server.properties" "${scram[@]}" >>"$LOG" 2>&1 ||
			fail kafka "$LOG" "could not format the KRaft storage"
		chmod 600 "$SCRAM_USERS.new"
		mv "$SCRAM_USERS.new" "$SCRAM_USERS"
		echo "$KAFKA_SECURITY" >"$KAFKA_DIR/security"
		say "kafka storage formatted (cluster id $id, security $KAFKA_SECURITY)"
	fi
}

# Principals added to the manifest (or whose password changed in the secrets
# file) since the storage was formatted get their credential now.
update_scram_users() {
	local name pw line
	[ "$KAFKA_SECURITY" = sasl ] || return 0
	touch "$SCRAM_USERS"
	for name in $KAFKA_PRINCIPALS; do
		pw=$(secret "KAFKA_PASSWORD_$(tr '[:lower:]' '[:upper:]' <<<"$name")")
		line=$(scram_line "$name" "$pw")
		grep -qxF "$line" "$SCRAM_USERS" && continue
		java_hidden kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
			--command-config "$KAFKA_DIR/admin.properties" --alter --entity-type users \
			--entity-name "$name" --add-config "SCRAM-SHA-512=[password=$pw]" >>"$LOG" 2>&1 ||
			fail kafka "$LOG" "could not set the SCRAM credential of $name"
		grep -v "^$name " "$SCRAM_USERS" >"$SCRAM_USERS.new" || true
		echo "$line" >>"$SCRAM_USERS.new"
		chmod 600 "$SCRAM_USERS.new"
		mv "$SCRAM_USERS.new" "$SCRAM_USERS"
		say "kafka: SCRAM credential of $name set"
	done
}

ready() {
	# The broker answers a metadata request once it has joined its own quorum.
	if [ "$KAFKA_SECURITY" = sasl ]; then
		kcat -F "$KAFKA_DIR/kcat.conf" -b "127.0.0.1:$KAFKA_PORT" -L -m 2 -J 2>/dev/null
	else
		kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 2 -J 2>/dev/null
	fi | grep -q '"brokers":\[{'
}

start() {
	fetch
	if pid_alive "$PIDFILE"; then
		say "kafka already running (pid $(cat "$PIDFILE"))"
	else
		configure
		say "starting kafka on 127.0.0.1:$KAFKA_PORT"
		(exec_java exec kafka.Kafka "$KAFKA_DIR/server.properties" \
			</dev/null >"$KAFKA_DIR/stdout.log" 2>&1 &
			echo $! >"$PIDFILE")
	fi
	wait_until "$READY_TIMEOUT" ready_or_dead "$PIDFILE" ready ||
		fail kafka "$LOG" "not ready after ${READY_TIMEOUT}s"
	pid_alive "$PIDFILE" || fail kafka "$KAFKA_DIR/stdout.log" "the broker exited during startup"
	update_scram_users
	say "kafka ready ($KAFKA_SECURITY)"
}

# In a container (compose): configure, then the broker in the foreground.
# The secrets come from the environment (KAFKA_PASSWORD_*).
run() {
	secrets_from_env KAFKA_PASSWORD_
	configure
	exec_java exec kafka.Kafka "$KAFKA_DIR/server.properties"
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
run) run ;;
ready) ready ;;
stop) stop_pidfile kafka "$PIDFILE" ;;
status) [ -f "$KAFKA_DIR/security" ] && KAFKA_SECURITY=$(cat "$KAFKA_DIR/security")
	if pid_alive "$PIDFILE" && ready; then echo "kafka: ready on 127.0.0.1:$KAFKA_PORT"; else echo "kafka: down"; exit 1; fi ;;
*) echo "usage: $0 fetch|start|stop|status|run" >&2; exit 2 ;;
esac
