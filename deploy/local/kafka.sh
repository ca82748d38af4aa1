#!/usr/bin/env bash
# Apache Kafka for the native stack: one combined broker+controller in KRaft
# mode, jars fetched once from Maven Central (pom.xml beside this file).
# Usage: kafka.sh fetch|start|stop|status
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

configure() {
	mkdir -p "$KAFKA_DIR/data"
	cat >"$KAFKA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
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
	if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
		local id
		id=$(java_run kafka.tools.StorageTool random-uuid 2>>"$LOG")
		java_run kafka.tools.StorageTool format -t "$id" \
			-c "$KAFKA_DIR/server.properties" >>"$LOG" 2>&1 ||
			fail kafka "$LOG" "could not format the KRaft storage"
		say "kafka storage formatted (cluster id $id)"
	fi
}

ready() {
	# The broker answers a metadata request once it has joined its own quorum.
	kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 2 -J 2>/dev/null | grep -q '"brokers":\[{'
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
	say "kafka ready"
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
stop) stop_pidfile kafka "$PIDFILE" ;;
status) if pid_alive "$PIDFILE" && ready; then echo "kafka: ready on 127.0.0.1:$KAFKA_PORT"; else echo "kafka: down"; exit 1; fi ;;
*) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
