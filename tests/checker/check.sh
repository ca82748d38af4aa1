#!/usr/bin/env bash
# The checker can fail: check-invariants against scratch databases (chk_*)
# and a scratch Redis database holding a small world that is whole (two
# orders: one completed, one cancelled), which it must pass, then the same
# world with one violation planted at a time, each of which it must report
# (its FAIL line) with a non-zero exit. Where the services' schema forbids a
# violation (a second charge, stock below zero, a second shipment, a
# notification sent twice), the scratch copy drops that constraint first:
# the checker must not rely on it.
# Usage: tests/checker/check.sh (BUILD_DIR; the stack up). Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib.sh

BUILD_DIR=${BUILD_DIR:-build/release}
CHECKER=$BUILD_DIR/bin/check-invariants
OUT=$RUN_DIR/checker
mkdir -p "$OUT"
set -a
. "$RUN_DIR/stack.env"
set +a
PSQL=$(pg_bindir)/psql
REDIS_DB=9 # the scratch Redis database

psql_db() { PGOPTIONS="-c client_min_messages=warning" as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d "$1" "${@:2}"; }
redis() { REDISCLI_AUTH=$(secret REDIS_PASSWORD_ADMIN) redis-cli --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" -n "$REDIS_DB" "$@" >/dev/null; }

# service database: the scratch databases and what their schema is made of.
SCRATCH="order:orders payment:payments inventory:inventory shipping:shipping notification:notifications"

make_scratch() {
	local s svc db f
	for s in $SCRATCH; do
		svc=${s%%:*} db=chk_${s#*:}
		psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
		for f in common/migrations/*.sql services/"$svc"/migrations/*.sql; do
			psql_db "$db" -f "$f" >/dev/null
		done
		psql_db "$db" -c "GRANT pg_read_all_data TO saga_reader" >/dev/null 2>&1 || true
	done
}

# The whole world: o-done COMPLETED (paid, reserved, shipped and delivered,
# notified thrice), o-off CANCELLED (declined, its stock released, notified).
baseline() {
	local s
	for s in $SCRATCH; do
		psql_db "chk_${s#*:}" -c "DO \$\$ DECLARE t text; BEGIN
			FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
			LOOP EXECUTE format('TRUNCATE %I CASCADE', t); END LOOP; END \$\$" >/dev/null
	done
	psql_db chk_orders >/dev/null <<'SQL'
INSERT INTO orders (order_id, customer_id, currency, shipping_address, total_cents, status,
                    payment_status, inventory_status, correlation_id, confirmed_at, cancel_reason)
VALUES ('o-done', 'c1', 'EUR', '1 Main St', 1000, 'COMPLETED', 'PAID', 'RESERVED', 'o-done', now(), NULL),
       ('o-off', 'c2', 'EUR', '2 Main St', 500, 'CANCELLED', 'DECLINED', 'RESERVED', 'o-off', NULL,
        'PAYMENT_DECLINED');
INSERT INTO order_items VALUES ('o-done', 1, 'p1', 2, 500), ('o-off', 1, 'p1', 1, 500);
SQL
	psql_db chk_payments >/dev/null <<'SQL'
INSERT INTO payments (payment_id, order_id, customer_id, amount_cents, currency, status)
VALUES ('pay-1', 'o-done', 'c1', 1000, 'EUR', 'CHARGED'), ('pay-2', 'o-off', 'c2', 500, 'EUR', 'DECLINED');
SQL
	psql_db chk_inventory >/dev/null <<'SQL'
INSERT INTO products VALUES ('p1', 'Thing', 500, 'EUR', 10, 8, now());
INSERT INTO reservations (order_id, product_id, quantity, status)
VALUES ('o-done', 'p1', 2, 'RESERVED'), ('o-off', 'p1', 1, 'RELEASED');
SQL
	psql_db chk_shipping >/dev/null <<'SQL'
INSERT INTO shipments (shipment_id, order_id, customer_id, shipping_address, status, correlation_id, cause_event)
VALUES ('s1', 'o-done', 'c1', '1 Main St', 'DELIVERED', 'o-done', '{}');
SQL
	psql_db chk_notifications >/dev/null <<'SQL'
INSERT INTO notifications VALUES
  ('n1', 'e-confirmed', 'OrderConfirmed', 'email', 'o-done', 'c1', 'confirmed', now()),
  ('n2', 'e-dispatched', 'ShipmentDispatched', 'email', 'o-done', 'c1', 'dispatched', now()),
  ('n3', 'e-delivered', 'ShipmentDelivered', 'email', 'o-done', 'c1', 'delivered', now()),
  ('n4', 'e-cancelled', 'OrderCancelled', 'email', 'o-off', 'c2', 'cancelled', now());
SQL
	redis FLUSHDB
	redis ZADD orders:accepted-at "$(date +%s)" o-done "$(date +%s)" o-off
	redis HSET order:o-done status COMPLETED total_cents 1000 payment_status PAID \
		inventory_status RESERVED shipment_status DELIVERED
	redis HSET order:o-off status CANCELLED total_cents 500 payment_status DECLINED \
		inventory_status RELEASED
}

# The checker on the scratch world, as the read-only saga_reader.
run_checker() {
	local reader db_url s prefix
	reader=$(secret PG_PASSWORD_READER)
	for s in $SCRATCH; do
		prefix=$(tr '[:lower:]' '[:upper:]' <<<"${s%%:*}")
		db_url=postgresql://saga_reader:$reader@127.0.0.1:$PG_PORT/chk_${s#*:}
		export "READER_${prefix}_DATABASE_URL=$db_url"
	done
	READER_REDIS_URL=redis://checker:$(secret REDIS_PASSWORD_CHECKER)@127.0.0.1:$REDIS_PORT/$REDIS_DB \
		CHECK_GROUPS=chk-no-such-group CHECK_SETTLE_S=0 "$CHECKER" >"$OUT/last.txt" 2>&1
}

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; sed 's/^/       /' "$OUT/last.txt"; failed=$((failed + 1)); }

# plant NAME CHECK SQL-DATABASE SQL...: the baseline with one violation,
# which must be reported as "FAIL CHECK" with a non-zero exit.
plant() {
	local name=$1 check=$2 db=$3
	shift 3
	baseline
	if [ "$db" = redis ]; then redis "$@"; else psql_db "chk_$db" -c "$*" >/dev/null; fi
	if run_checker; then
		bad "$name: the checker passed it"
	elif grep -q "^FAIL $check" "$OUT/last.txt"; then
		ok "$name: reported ($(grep "^FAIL $check" "$OUT/last.txt" | head -n 1 | cut -c1-110))"
	else
		bad "$name: the checker failed, but not on \"$check\""
	fi
}

make_scratch
baseline
if run_checker; then ok "the whole world passes"; else bad "the whole world does not pass"; fi

plant "an accepted order that never finished" terminal orders \
	"UPDATE orders SET status = 'CONFIRMED' WHERE order_id = 'o-done'"
plant "an accepted order the service never saw" terminal redis ZADD orders:accepted-at "$(date +%s)" o-lost
plant "an order charged twice" charges payments \
	"ALTER TABLE payments DROP CONSTRAINT payments_order_id_key;
	 INSERT INTO payments (payment_id, order_id, customer_id, amount_cents, currency, status)
	 VALUES ('pay-3', 'o-done', 'c1', 1000, 'EUR', 'CHARGED')"
plant "a cancelled order still charged" charges payments \
	"UPDATE payments SET status = 'CHARGED' WHERE order_id = 'o-off'"
plant "a refund without a charge" charges payments \
	"INSERT INTO refunds VALUES ('r1', 'pay-2', 500, now())"
plant "a payment for an order nobody placed" charges payments \
	"INSERT INTO payments (payment_id, order_id, customer_id, amount_cents, currency, status)
	 VALUES ('pay-9', 'o-ghost', 'c9', 100, 'EUR', 'CHARGED')"
plant "stock below zero" stock inventory \
	"ALTER TABLE products DROP CONSTRAINT products_available_check;
	 UPDATE products SET available = -1, initial_stock = 1"
plant "stock that does not add up" stock inventory "UPDATE products SET available = 7"
plant "a cancelled order holding stock" stock inventory \
	"UPDATE reservations SET status = 'RESERVED' WHERE order_id = 'o-off';
	 UPDATE products SET available = 7"
plant "a shipment for a cancelled order" shipments shipping \
	"INSERT INTO shipments (shipment_id, order_id, customer_id, shipping_address, status, correlation_id, cause_event)
	 VALUES ('s2', 'o-off', 'c2', '2 Main St', 'CREATED', 'o-off', '{}')"
plant "two shipments for one order" shipments shipping \
	"ALTER TABLE shipments DROP CONSTRAINT shipments_order_id_key;
	 INSERT INTO shipments (shipment_id, order_id, customer_id, shipping_address, status, correlation_id, cause_event)
	 VALUES ('s3', 'o-done', 'c1', '1 Main St', 'CREATED', 'o-done', '{}')"
plant "a cancellation reason the saga does not give" outcomes orders \
	"UPDATE orders SET cancel_reason = 'BECAUSE' WHERE order_id = 'o-off'"
plant "a confirmed order cancelled for TIMEOUT" outcomes orders \
	"UPDATE orders SET cancel_reason = 'TIMEOUT', confirmed_at = now() WHERE order_id = 'o-off'"
plant "a cancelled order whose shipment left" outcomes shipping \
	"INSERT INTO shipments (shipment_id, order_id, customer_id, shipping_address, status, correlation_id, cause_event)
	 VALUES ('s2', 'o-off', 'c2', '2 Main St', 'DISPATCHED', 'o-off', '{}')"
plant "a completed order with its cancellation still pending" outcomes orders \
	"UPDATE orders SET cancellation = 'REQUESTED' WHERE order_id = 'o-done'"
plant "a refused cancellation the customer was not told of" notifications orders \
	"UPDATE orders SET cancellation = 'REFUSED' WHERE order_id = 'o-done'"
plant "a missing notification" notifications notifications \
	"DELETE FROM notifications WHERE cause_event_type = 'ShipmentDelivered'"
plant "a notification sent twice" notifications notifications \
	"ALTER TABLE notifications DROP CONSTRAINT notifications_cause_event_id_channel_key;
	 INSERT INTO notifications VALUES ('n5', 'e-confirmed', 'OrderConfirmed', 'email', 'o-done', 'c1', 'again', now())"
plant "a read model that says otherwise" "read model" redis HSET order:o-done status CANCELLED
plant "a read model with the wrong total" "read model" redis HSET order:o-off total_cents 499
plant "a recently finished order missing from the read model" "read model" redis DEL order:o-done
# An order finished longer ago than the read model's TTL may have expired.
baseline
psql_db chk_orders -c "UPDATE orders SET updated_at = now() - interval '2 days' WHERE order_id = 'o-done'" >/dev/null
redis DEL order:o-done
if run_checker && grep -q '1 finished over 86400s ago have expired' "$OUT/last.txt"; then
	ok "an order finished over the TTL ago may have left the read model"
else
	bad "an order finished over the TTL ago may have left the read model"
fi
plant "a stuck outbox row" outbox orders \
	"INSERT INTO outbox (topic, key, payload) VALUES ('order-events', 'o-done', '\\x00')"

for s in $SCRATCH; do psql_db postgres -c "DROP DATABASE IF EXISTS chk_${s#*:}" >/dev/null 2>&1 || true; done
redis FLUSHDB
echo "checker: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
