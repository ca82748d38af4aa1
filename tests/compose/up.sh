#!/usr/bin/env bash
# make compose-test: the compose stack for real, on a machine with a Docker
# engine (and debootstrap for the base image). Builds the images, starts
# everything, places an order through the published gateway and follows it
# to COMPLETED, checks that Kafka refuses a client without SASL and a
# service writing another's topic and that Redis refuses a client without a
# password, then removes the stack and its volumes.
# Prints "compose-up: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
passed=0
failed=0
check() { if [ "$1" = 0 ]; then passed=$((passed + 1)); echo "ok   $2"; else failed=$((failed + 1)); echo "FAIL $2"; fi; }
dc() { docker-compose -p saga-compose-test "$@"; }
trap 'dc down -v >/dev/null 2>&1' EXIT

make -s --no-print-directory compose-images >.run/compose-build.log 2>&1 ||
	{ tail -20 .run/compose-build.log; echo "compose-up: 0 passed, 1 failed"; exit 1; }
set -a
. ./.env
set +a
port=${GATEWAY_PORT:-8080}
dc up -d >/dev/null 2>&1
check $? "docker compose up"
deadline=$((SECONDS + 180))
until [ "$(dc ps | grep -c '(healthy)')" -ge 9 ] || [ $SECONDS -gt $deadline ]; do sleep 2; done
check "$([ "$(dc ps | grep -c '(healthy)')" -ge 9 ]; echo $?)" "every server and daemon is healthy"

body='{"customer_id":"compose-1","currency":"EUR","shipping_address":"1 Compose Street","items":[{"product_id":"p-0001","quantity":2}]}'
until curl -fsS -H "X-API-Key: $API_KEY" "http://127.0.0.1:$port/v1/products/p-0001" >/dev/null 2>&1 ||
	[ $SECONDS -gt $deadline ]; do sleep 1; done
reply=$(curl -s -X POST "http://127.0.0.1:$port/v1/orders" -H "Authorization: Bearer $API_KEY" \
	-H 'Content-Type: application/json' -d "$body")
id=$(sed -nE 's/.*"order_id":"([^"]+)".*/\1/p' <<<"$reply")
check "$([ -n "$id" ]; echo $?)" "an order is accepted ($reply)"
status=
for _ in $(seq 1 60); do
	status=$(curl -s -H "X-API-Key: $API_KEY" "http://127.0.0.1:$port/v1/orders/$id" |
		sed -nE 's/.*"status":"([A-Z]+)".*/\1/p')
	[ "$status" = COMPLETED ] && break
	sleep 1
done
check "$([ "$status" = COMPLETED ]; echo $?)" "it completes ($status)"

out=$(dc exec -T kafka timeout 10 kcat -b kafka:9092 -L -m 5 2>&1)
check "$(grep -q 'Failed to acquire metadata' <<<"$out"; echo $?)" "Kafka refuses a client without SASL"
conf=$(printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=payment\nsasl.password=%s\n' "$KAFKA_PASSWORD_PAYMENT")
out=$(echo forged | dc exec -T kafka sh -c "umask 077; printf '%s' '$conf' >/tmp/c && timeout 15 kcat -F /tmp/c -b kafka:9092 -P -t order-events; rm -f /tmp/c" 2>&1)
check "$(grep -q 'Topic authorization failed' <<<"$out"; echo $?)" "payment may not write order-events"
out=$(dc exec -T redis redis-cli -h 127.0.0.1 get orders:accepted 2>&1)
check "$(grep -q NOAUTH <<<"$out"; echo $?)" "Redis refuses a client without a password"
echo "compose-up: $passed passed, $failed failed"
[ "$failed" = 0 ]
