#!/usr/bin/env bash
# make bench-peer: the project's outbox relay side by side with what users
# pick instead, Debezium (Kafka Connect standalone, the PostgreSQL connector
# with its outbox EventRouter), on the same PostgreSQL (wal_level=logical),
# the same broker and the same consumer, with the same durability. A report,
# not a test: .run/bench/peer.md and peer-*.json.
#
# Per publisher, tools/bench-plumbing measures (1) events/s for BENCH_EVENTS
# (50,000) pre-committed rows and (2) the hop from the outbox COMMIT to the
# consumer's COMMIT at BENCH_RATE (1,000) events/s for BENCH_SECONDS (20),
# with the CPU of the publisher, PostgreSQL and the broker per 1,000 events.
# Debezium runs at its default poll.interval.ms (500) and at PEER_POLLS'
# other values (10 1). Its jars come from Maven Central once (.cache).
#   PEER_DEBEZIUM (3.0.8.Final), PEER_CONNECT_PORT (18083), PEER_POLLS
set -uo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib.sh
set -a
. "$RUN_DIR/stack.env"
set +a

DEBEZIUM=${PEER_DEBEZIUM:-3.0.8.Final}
CONNECT_PORT=${PEER_CONNECT_PORT:-18083}
POLLS=${PEER_POLLS:-500 10 1}
LIB=$CACHE_DIR/peer-debezium-$DEBEZIUM-kafka-$KAFKA_VERSION
DIR=$RUN_DIR/peer
OUT=$RUN_DIR/bench
BIN=${BUILD_DIR:-build/release}/bin
ROLE=bench_peer
CONNECT_URL=http://127.0.0.1:$CONNECT_PORT
mkdir -p "$DIR" "$OUT"
chmod 700 "$DIR"

fetch() {
	[ -f "$LIB/debezium-connector-postgres-$DEBEZIUM.jar" ] && return 0
	say "fetching Kafka Connect $KAFKA_VERSION and Debezium $DEBEZIUM from Maven Central (once)"
	rm -rf "$LIB.tmp"
	mkdir -p "$LIB.tmp"
	mvn -q -B -f deploy/peer/pom.xml -Dkafka.version="$KAFKA_VERSION" -Ddebezium.version="$DEBEZIUM" \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB.tmp" ||
		fail bench-peer "" "maven could not fetch Kafka Connect and Debezium"
	rm -rf "$LIB"
	mv "$LIB.tmp" "$LIB"
}

psql_admin() {
	PGOPTIONS="-c client_min_messages=warning" as_pg "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 \
		-h "$PG_SOCK" -p "$PG_PORT" -U postgres "$@"
}

# A role of its own with REPLICATION (Debezium reads the WAL) and a database
# of its name (pg_hba's samerole rule lets it in, and only there).
provision() {
	local pw
	pw=$(secret PG_PASSWORD_BENCH_PEER)
	{
		printf '\\set pw %s\n' "$pw"
		cat <<'SQL'
SELECT format('CREATE ROLE bench_peer LOGIN REPLICATION PASSWORD %L', :'pw')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_peer') \gexec
SELECT format('ALTER ROLE bench_peer PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE bench_peer OWNER bench_peer'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'bench_peer') \gexec
REVOKE CONNECT ON DATABASE bench_peer FROM PUBLIC;
SQL
	} | psql_admin -d postgres -f - || fail bench-peer "" "could not provision the bench_peer role"
	DB_URL=postgresql://$ROLE:$pw@127.0.0.1:$PG_PORT/$ROLE
}

# The replication slot keeps WAL until it is dropped: it never outlives a run.
drop_slot() {
	psql_admin -d "$ROLE" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$ROLE'" \
		-c "DROP PUBLICATION IF EXISTS $ROLE" >/dev/null 2>&1 || true
}

connect_pid() { cat "$DIR/connect.pid" 2>/dev/null; }

stop_connect() {
	local pid
	pid=$(connect_pid)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		wait_until 30 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$DIR/connect.pid"
	drop_slot
}

# The worker (standalone: offsets in a file) on the project's broker, as the
# broker's administrator (Connect may create topics); secrets only in 0600
# files of .run/peer.
start_connect() {
	local jaas
	jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$KAFKA_SASL_USERNAME\" password=\"$KAFKA_SASL_PASSWORD\";"
	rm -f "$DIR/offsets"
	(
		umask 077
		cat >"$DIR/worker.properties" <<PROPS
bootstrap.servers=$KAFKA_BOOTSTRAP
security.protocol=$KAFKA_SECURITY_PROTOCOL
sasl.mechanism=$KAFKA_SASL_MECHANISM
sasl.jaas.config=$jaas
producer.security.protocol=$KAFKA_SECURITY_PROTOCOL
producer.sasl.mechanism=$KAFKA_SASL_MECHANISM
producer.sasl.jaas.config=$jaas
producer.acks=all
producer.enable.idempotence=true
producer.compression.type=lz4
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.converters.ByteArrayConverter
offset.storage.file.filename=$DIR/offsets
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$CONNECT_PORT
PROPS
		cat >"$DIR/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, out
log4j.appender.out=org.apache.log4j.FileAppender
log4j.appender.out.File=${peer.log}
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
	)
	say "starting Kafka Connect with Debezium $DEBEZIUM on 127.0.0.1:$CONNECT_PORT"
	java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
		-Dlog4j.configuration="file:$DIR/log4j.properties" -Dpeer.log="$DIR/connect.log" \
		-cp "$LIB/*" org.apache.kafka.connect.cli.ConnectStandalone "$DIR/worker.properties" \
		>"$DIR/connect.out" 2>&1 &
	echo $! >"$DIR/connect.pid"
	wait_until 90 curl -fsS "$CONNECT_URL/" ||
		fail bench-peer "$DIR/connect.log" "Kafka Connect did not answer"
}

# The connector's configuration (JSON, 0600) with poll.interval.ms $1: it
# reads public.outbox from the WAL and routes each row to the topic its
# `topic` column names, keyed by `key`, the value its `payload` bytes.
connector_config() {
	local pw
	pw=$(secret PG_PASSWORD_BENCH_PEER)
	(
		umask 077
		cat >"$DIR/connector.json" <<JSON
{"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "tasks.max": "1",
 "plugin.name": "pgoutput", "database.hostname": "127.0.0.1", "database.port": "$PG_PORT",
 "database.user": "$ROLE", "database.password": "$pw", "database.dbname": "$ROLE",
 "topic.prefix": "$ROLE", "table.include.list": "public.outbox", "slot.name": "$ROLE",
 "publication.name": "$ROLE", "publication.autocreate.mode": "filtered", "snapshot.mode": "no_data",
 "poll.interval.ms": "$1",
 "transforms": "outbox", "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
 "transforms.outbox.table.field.event.id": "id", "transforms.outbox.table.field.event.key": "key",
 "transforms.outbox.table.field.event.payload": "payload", "transforms.outbox.route.by.field": "topic",
 "transforms.outbox.route.topic.replacement": "\${routedByValue}"}
JSON
	)
	curl -fsS -X PUT -H 'Content-Type: application/json' --data-binary "@$DIR/connector.json" \
		"$CONNECT_URL/connectors/$ROLE/config" >/dev/null ||
		fail bench-peer "$DIR/connect.log" "Kafka Connect refused the connector"
	wait_until 60 bash -c "curl -fsS $CONNECT_URL/connectors/$ROLE/status | grep -q '\"tasks\":\[{\"id\":0,\"state\":\"RUNNING\"'" ||
		fail bench-peer "$DIR/connect.log" "the connector's task is not running: $(curl -sS "$CONNECT_URL/connectors/$ROLE/status")"
}

# bench NAME PUBLISHER [connect-pid]: one bench-plumbing run into peer-NAME.json.
bench() {
	local pids
	pids="postgres=$(pg_pids | awk '{ print $1 }'),kafka=$(broker_pids | head -n 1)${3:+,connect=$3}"
	say "$1"
	BENCH_PUBLISHER=$2 BENCH_CONNECT_URL=$CONNECT_URL BENCH_CONNECTOR=$ROLE BENCH_CPU_PIDS=$pids \
		BENCH_OUT="$OUT/peer-$1.json" DATABASE_URL=$DB_URL "$BIN/bench-plumbing" ||
		fail bench-peer "" "bench-plumbing ($1) failed"
}

row() {
	python3 - "$OUT/peer-$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); c = d["cpu_s_per_1000"]
pub = c.get("relay", c.get("connect", 0))
print(f"| {sys.argv[2]} | {d['relay_events_per_s']:,.0f} | {d['hop_p50_ms']:.1f} / {d['hop_p99_ms']:.1f} / {d['hop_max_ms']:.1f} ms "
      f"| {pub:.3f} | {c.get('postgres', 0):.3f} | {c.get('kafka', 0):.3f} |")
PY
}

trap stop_connect EXIT
fetch
provision
drop_slot
bench relay relay
start_connect
for poll in $POLLS; do
	connector_config "$poll"
	bench "debezium-$poll" debezium "$(connect_pid)"
done
stop_connect
trap - EXIT
{
	echo "| publisher | events/s, $((${BENCH_EVENTS:-50000})) pre-committed rows | hop p50 / p99 / max at ${BENCH_RATE:-1000}/s | publisher CPU s / 1,000 events | PostgreSQL | Kafka broker |"
	echo "|---|---|---|---|---|---|"
	row relay "the project's relay (tools/bench-plumbing, its own process)"
	for poll in $POLLS; do
		row "debezium-$poll" "Debezium $DEBEZIUM, Connect $KAFKA_VERSION, poll.interval.ms=$poll$([ "$poll" = 500 ] && echo ' (default)')"
	done
} >"$OUT/peer.md"
echo
cat "$OUT/peer.md"
