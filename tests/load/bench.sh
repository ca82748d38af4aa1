#!/usr/bin/env bash
# make bench: the machine's own limits with the saga's durability settings,
# next to the saga's own throughput, with the ratio. Writes .run/bench/bench.json
# and .run/bench/bench.md.
#   1. PostgreSQL: commits/s of a saga-step-shaped transaction (pgbench).
#   2. Kafka: produce and consume rate of 300-byte messages (acks=all).
#   3. The saga: orders finished per second under an open-loop load (BENCH_RATE),
#      with what an order costs: CPU per process and Kafka requests per order.
set -uo pipefail
cd "$(dirname "$0")/../.."
set -a
. .run/stack.env
set +a
mkdir -p .run/bench
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench | tail -n 1)
BENCH_RATE=${BENCH_RATE:-1000}
BENCH_SECONDS=${BENCH_SECONDS:-30}

echo "1/3 PostgreSQL: saga-step transactions (pgbench, 8 clients, 20 s)"
psql "$TEST2_DATABASE_URL" -Xq <<'SQL'
DROP TABLE IF EXISTS bench_inbox, bench_stock, bench_outbox;
CREATE TABLE bench_inbox (event_id text, consumer text, topic text, at timestamptz DEFAULT now(), PRIMARY KEY (consumer, event_id));
CREATE TABLE bench_stock (product_id int PRIMARY KEY, available int);
INSERT INTO bench_stock SELECT g, 1000000000 FROM generate_series(1, 1000) g;
CREATE TABLE bench_outbox (id bigserial PRIMARY KEY, topic text, key text, payload bytea, created_at timestamptz DEFAULT clock_timestamp());
SQL
pg_tps=$("$PGBENCH" -n -c 8 -j 2 -T 20 -f tests/load/saga-step.sql "$TEST2_DATABASE_URL" 2>/dev/null |
	awk '/^tps = /{print int($3)}')
echo "   $pg_tps transactions/s"

echo "2/3 Kafka: 300-byte messages, acks=all, idempotent"
kafka=$(BENCH_MESSAGES=${BENCH_MESSAGES:-300000} build/release/bin/bench-kafka)
echo "   $kafka"
produce=$(sed -E 's/.*"produce_per_s": ([0-9]+).*/\1/' <<<"$kafka")
consume=$(sed -E 's/.*"consume_per_s": ([0-9]+).*/\1/' <<<"$kafka")

echo "3/3 the saga: $BENCH_RATE orders/s offered for $BENCH_SECONDS s"
RATE=$BENCH_RATE DURATION=$BENCH_SECONDS bash tests/load/run.sh >.run/bench/saga-load.log 2>&1
saga_json=.run/load/latest/results.json
finished=$(sed -nE 's/.*"finished": ([0-9]+).*/\1/p' "$saga_json")
wall=$(awk -F'\t' 'NR>1 && $3>=0 {if ($1+$3/1000>m) m=$1+$3/1000} END {printf "%.1f", m}' .run/load/latest/e2e.tsv)
saga_ops=$(echo "scale=0; $finished / $wall" | bc)
tx_per_order=$(sed -nE 's/.*"pg_transactions": ([0-9.]+).*/\1/p' "$saga_json")
msgs_per_order=$(sed -nE 's/.*"kafka_messages": ([0-9.]+).*/\1/p' "$saga_json")
pg_bound=$(echo "scale=0; $pg_tps / $tx_per_order" | bc)
kafka_bound=$(echo "scale=0; $produce / $msgs_per_order" | bc)
cat >.run/bench/bench.md <<MD
| measure | this machine | per order | orders/s it would allow | saga | saga / limit |
|---|---|---|---|---|---|
| PostgreSQL saga-step commits/s | $pg_tps | $tx_per_order transactions | $pg_bound | $saga_ops orders/s | $(echo "scale=2; $saga_ops / $pg_bound" | bc) |
| Kafka produce, 300 B, acks=all | $produce msgs/s | $msgs_per_order messages | $kafka_bound | $saga_ops orders/s | $(echo "scale=2; $saga_ops / $kafka_bound" | bc) |
| Kafka consume, 300 B | $consume msgs/s | | | | |

What an order costs at $BENCH_RATE orders/s offered (CPU of each process
over the run, from /proc; the load generator apart):

$(sed -n '/^| process | cores/,/^| \*\*stack/p' .run/load/latest/report.md)

Kafka requests per order, by kind:

$(sed -n '/^| request | per second/,/^$/p' .run/load/latest/report.md)
MD
cat >.run/bench/bench.json <<JSON
{"pg_saga_step_tps": $pg_tps, "kafka_produce_per_s": $produce, "kafka_consume_per_s": $consume,
 "saga_orders_per_s": $saga_ops, "saga_offered_per_s": $BENCH_RATE, "pg_tx_per_order": $tx_per_order,
 "kafka_messages_per_order": $msgs_per_order}
JSON
echo
cat .run/bench/bench.md
echo "(saga run: .run/load/latest/report.md)"
