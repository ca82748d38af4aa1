#!/usr/bin/env bash
# Apache Kafka for the native stack in KRaft mode: one combined broker and
# controller, or three (KAFKA_BROKERS=3); jars fetched once from Maven
# Central (pom.xml beside this file).
# Usage: kafka.sh fetch|start|stop|status, run (in the foreground, for a
#        container), and for fault tests: pid N, start-node N, leader TOPIC PARTITION
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# One broker: everything in .run/kafka. Three: the cluster's files in
# .run/kafka/cluster-3, each node's in cluster-3/node-N. TLS and the tools'
# client settings stay in .run/kafka (the same for both).
if [ "$KAFKA_BROKERS" = 1 ]; then
	CLUSTER_DIR=$KAFKA_DIR
else
	CLUSTER_DIR=$KAFKA_DIR/cluster-$KAFKA_BROKERS
fi
BOOTSTRAP=$(kafka_bootstrap "$KAFKA_PORT")

# node N: sets the node's directory, files and ports.
node() {
	NODE=$1
	if [ "$KAFKA_BROKERS" = 1 ]; then NODE_DIR=$KAFKA_DIR; else NODE_DIR=$CLUSTER_DIR/node-$1; fi
	PIDFILE=$NODE_DIR/kafka.pid
	LOG=$NODE_DIR/server.log
	NODE_PORT=$(kafka_node_port "$KAFKA_PORT" "$1")
	NODE_TLS_PORT=$(kafka_node_port "$KAFKA_TLS_PORT" "$1")
	NODE_CONTROLLER_PORT=$(kafka_node_port "$KAFKA_CONTROLLER_PORT" "$1")
}
node 1

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
		-Dkafka.logs.dir="$NODE_DIR" \
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
SCRAM_USERS=$CLUSTER_DIR/scram-users

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
	# CLIENT (SASL/SCRAM) always; TLS (SASL_SSL) on a second port unless
	# KAFKA_TLS_LISTENER=off; CONTROLLER on the loopback only.
	local listen=CLIENT://$KAFKA_LISTEN_HOST:$NODE_PORT advertise=CLIENT://$KAFKA_ADVERTISED_HOST:$NODE_PORT
	local map=CLIENT:SASL_PLAINTEXT tls=
	if [ "$KAFKA_TLS_LISTENER" = on ]; then
		listen+=,TLS://$KAFKA_LISTEN_HOST:$NODE_TLS_PORT
		advertise+=,TLS://$KAFKA_ADVERTISED_HOST:$NODE_TLS_PORT
		map+=,TLS:SASL_SSL
		tls="listener.name.tls.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_DIR/tls/broker-keystore.pem"
	fi
	cat <<PROPS
listeners=$listen,CONTROLLER://127.0.0.1:$NODE_CONTROLLER_PORT
advertised.listeners=$advertise
listener.security.protocol.map=$map,CONTROLLER:SASL_PLAINTEXT
$tls
inter.broker.listener.name=CLIENT
# Clients: SASL/SCRAM-SHA-512, credentials in the cluster metadata.
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
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
listeners=PLAINTEXT://$KAFKA_LISTEN_HOST:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_ADVERTISED_HOST:$NODE_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
PROPS
}

# The replication settings of the cluster's size.
write_replication_configs() {
	local rf=$KAFKA_BROKERS isr=1 voters= n
	[ "$KAFKA_BROKERS" -ge 3 ] && isr=2
	for n in $(seq 1 "$KAFKA_BROKERS"); do
		voters+=${voters:+,}$n@127.0.0.1:$(kafka_node_port "$KAFKA_CONTROLLER_PORT" "$n")
	done
	cat <<PROPS
controller.quorum.voters=$voters
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
default.replication.factor=$rf
min.insync.replicas=$isr
# A replica that is behind never becomes leader: no acknowledged write is lost.
unclean.leader.election.enable=false
PROPS
}

# configure: the current node's server.properties, and its storage formatted
# once (every node of a cluster with the same cluster id).
configure() {
	local security
	mkdir -p "$NODE_DIR/data" "$CLUSTER_DIR"
	chmod 700 "$KAFKA_DIR" "$CLUSTER_DIR" "$NODE_DIR"
	case "$KAFKA_SECURITY" in
	sasl)
		[ "$KAFKA_TLS_LISTENER" = on ] && make_tls
		security=$(write_sasl_configs)
		;;
	plaintext) security=$(write_plaintext_configs) ;;
	*) fail kafka "" "KAFKA_SECURITY must be sasl or plaintext, not '$KAFKA_SECURITY'" ;;
	esac
	(umask 077 && cat >"$NODE_DIR/server.properties") <<PROPS
process.roles=broker,controller
node.id=$NODE
controller.listener.names=CONTROLLER
$security
$(write_replication_configs)
log.dirs=$NODE_DIR/data
num.partitions=$KAFKA_PARTITIONS
auto.create.topics.enable=false
offsets.topic.num.partitions=12
group.initial.rebalance.delay.ms=0
# The controller's no-op metadata record every 5 s instead of every 0.5 s:
# an idle node then appends (and fsyncs) a tenth as often.
metadata.max.idle.interval.ms=5000
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=134217728
PROPS
	# The broker's log: server.log in the node's directory, or (in a
	# container, KAFKA_LOG=console) standard error, where docker logs reads
	# it; never standard output, which the tools' answers use (random-uuid).
	local appender='log4j.appender.out=org.apache.log4j.RollingFileAppender
log4j.appender.out.File=${kafka.logs.dir}/server.log
log4j.appender.out.MaxFileSize=20MB
log4j.appender.out.MaxBackupIndex=2'
	[ "${KAFKA_LOG:-file}" = console ] &&
		appender=$'log4j.appender.out=org.apache.log4j.ConsoleAppender\nlog4j.appender.out.Target=System.err'
	cat >"$KAFKA_DIR/log4j.properties" <<PROPS
log4j.rootLogger=INFO, out
$appender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
PROPS
	# Data formatted under the other security mode cannot be reused: its
	# metadata has no credentials (or ones no client uses). It is kept aside.
	if [ -f "$NODE_DIR/data/meta.properties" ] &&
		[ "$(cat "$CLUSTER_DIR/security" 2>/dev/null || echo plaintext)" != "$KAFKA_SECURITY" ]; then
		local aside=$NODE_DIR/data.$(cat "$CLUSTER_DIR/security" 2>/dev/null || echo plaintext).$(date +%s)
		say "kafka data was made without KAFKA_SECURITY=$KAFKA_SECURITY; moved to $aside"
		mv "$NODE_DIR/data" "$aside"
		mkdir -p "$NODE_DIR/data"
		rm -f "$SCRAM_USERS" "$CLUSTER_DIR/cluster-id"
	fi
	if [ ! -f "$NODE_DIR/data/meta.properties" ]; then
		local id scram=() name pw
		[ -s "$CLUSTER_DIR/cluster-id" ] ||
			java_run kafka.tools.StorageTool random-uuid >"$CLUSTER_DIR/cluster-id" 2>>"$LOG"
		id=$(cat "$CLUSTER_DIR/cluster-id")
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
			-c "$NODE_DIR/server.properties" "${scram[@]}" >>"$LOG" 2>&1 || {
			# A usage error echoes the arguments: no password stays in the log.
			sed -i -E 's/password=[^],]*/password=***/g' "$LOG"
			fail kafka "$LOG" "could not format the KRaft storage"
		}
		chmod 600 "$SCRAM_USERS.new"
		mv "$SCRAM_USERS.new" "$SCRAM_USERS"
		echo "$KAFKA_SECURITY" >"$CLUSTER_DIR/security"
		say "kafka node $NODE storage formatted (cluster id $id, security $KAFKA_SECURITY)"
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
		java_hidden kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" \
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

# ready [N]: node N (every node by default) answers a metadata request and
# the cluster shows all its brokers.
ready() {
	local port=$NODE_PORT
	[ -z "${1:-}" ] || port=$(kafka_node_port "$KAFKA_PORT" "$1")
	local conf=()
	[ "$KAFKA_SECURITY" = sasl ] && conf=(-F "$KAFKA_DIR/kcat.conf")
	[ "$(kcat "${conf[@]}" -b "127.0.0.1:$port" -L -m 2 -J 2>/dev/null |
		grep -o '"brokers":\[[^]]*\]' | grep -o '"id":' | wc -l)" -ge "$KAFKA_BROKERS" ]
}

# start_node N: starts node N unless it runs; returns once it is ready.
start_node() {
	node "$1"
	if pid_alive "$PIDFILE"; then
		say "kafka node $NODE already running (pid $(cat "$PIDFILE"))"
	else
		configure
		say "starting kafka node $NODE on 127.0.0.1:$NODE_PORT"
		(exec_java exec kafka.Kafka "$NODE_DIR/server.properties" \
			</dev/null >"$NODE_DIR/stdout.log" 2>&1 &
			echo $! >"$PIDFILE")
	fi
}

wait_node() {
	node "$1"
	wait_until "$READY_TIMEOUT" ready_or_dead "$PIDFILE" ready "$NODE" ||
		fail kafka "$LOG" "node $NODE not ready after ${READY_TIMEOUT}s"
	pid_alive "$PIDFILE" || fail kafka "$NODE_DIR/stdout.log" "node $NODE exited during startup"
}

# A stack is made with one cluster size: the databases' outboxes, the
# consumers' positions and the read model's offsets belong to its cluster.
check_size() {
	local made
	made=$(cat "$KAFKA_DIR/brokers" 2>/dev/null || echo "$KAFKA_BROKERS")
	[ "$made" = "$KAFKA_BROKERS" ] || fail kafka "" "this stack was made with KAFKA_BROKERS=$made; to switch, \
make down and remove .run/ (its data goes with it), then start with KAFKA_BROKERS=$KAFKA_BROKERS"
	echo "$KAFKA_BROKERS" >"$KAFKA_DIR/brokers"
}

start() {
	local n
	fetch
	mkdir -p "$KAFKA_DIR"
	check_size
	# The nodes start together: a controller quorum needs a majority.
	for n in $(seq 1 "$KAFKA_BROKERS"); do start_node "$n"; done
	for n in $(seq 1 "$KAFKA_BROKERS"); do wait_node "$n"; done
	update_scram_users
	say "kafka ready ($KAFKA_BROKERS node(s), $KAFKA_SECURITY) on $BOOTSTRAP"
}

stop() {
	local n
	# All at once: a node stopped after the others lost its quorum would
	# wait for it until killed.
	for n in $(seq 1 "$KAFKA_BROKERS"); do
		node "$n"
		! pid_alive "$PIDFILE" || kill "$(head -n 1 "$PIDFILE")" 2>/dev/null || true
	done
	for n in $(seq 1 "$KAFKA_BROKERS"); do
		node "$n"
		stop_pidfile "kafka node $n" "$PIDFILE"
	done
}

status() {
	local n rc=0
	[ -f "$CLUSTER_DIR/security" ] && KAFKA_SECURITY=$(cat "$CLUSTER_DIR/security")
	for n in $(seq 1 "$KAFKA_BROKERS"); do
		node "$n"
		if pid_alive "$PIDFILE" && ready "$n"; then
			echo "kafka node $n: ready on 127.0.0.1:$NODE_PORT"
		else
			echo "kafka node $n: down"
			rc=1
		fi
	done
	return $rc
}

# leader TOPIC PARTITION: the node that leads the partition now.
leader() {
	local conf=()
	[ "$KAFKA_SECURITY" = sasl ] && conf=(-F "$KAFKA_DIR/kcat.conf")
	kcat "${conf[@]}" -b "$BOOTSTRAP" -L -t "$1" -J 2>/dev/null |
		grep -o "\"partition\":$2,\"leader\":[0-9]*" | grep -o '[0-9]*$'
}

# In a container (compose): configure, then the broker in the foreground.
# The secrets come from the environment (KAFKA_PASSWORD_*).
run() {
	secrets_from_env KAFKA_PASSWORD_
	KAFKA_LOG=console configure
	exec_java exec kafka.Kafka "$NODE_DIR/server.properties"
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
run) run ;;
ready) ready ;;
stop) stop ;;
status) status ;;
pid) node "$2"; head -n 1 "$PIDFILE" ;;
start-node) start_node "$2"; wait_node "$2" ;;
leader) leader "$2" "$3" ;;
*) echo "usage: $0 fetch|start|stop|status|run|pid N|start-node N|leader TOPIC PARTITION" >&2; exit 2 ;;
esac
