#!/usr/bin/env bash
# Shows the running stack working: waits for the catalogue to reach the
# gateway and the order service, places one order through the HTTP API,
# follows it to its final status and prints it with the URLs and the key.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
set -a
. "$RUN_DIR/stack.env"
set +a

catalogue_ready() {
	curl -fsS -H "X-API-Key: $API_KEY" "$GATEWAY_URL/v1/products/p-0001" >/dev/null &&
		[ "$(psql "$ORDER_DATABASE_URL" -XAtc 'SELECT count(*) FROM products' 2>/dev/null)" -gt 0 ]
}
wait_until 60 catalogue_ready || fail gateway "$RUN_DIR/logs/gateway.log" "the catalogue did not arrive"

body='{"customer_id":"sample-customer","currency":"EUR","shipping_address":"1 Sample Street, Springfield","items":[{"product_id":"p-0001","quantity":2},{"product_id":"p-0042","quantity":1}]}'
say "placing a sample order: POST $GATEWAY_URL/v1/orders"
reply=$(curl -fsS -X POST "$GATEWAY_URL/v1/orders" -H "Authorization: Bearer $API_KEY" \
	-H 'Content-Type: application/json' -d "$body")
echo "  $reply"
id=$(sed -E 's/.*"order_id":"([^"]+)".*/\1/' <<<"$reply")

finished() {
	curl -fsS -H "X-API-Key: $API_KEY" "$GATEWAY_URL/v1/orders/$id" | grep -qE '"status":"(COMPLETED|CANCELLED)"'
}
wait_until 60 finished || fail order "$RUN_DIR/logs/order.log" "order $id did not finish within 60 s"
say "order $id finished:"
curl -fsS -H "X-API-Key: $API_KEY" "$GATEWAY_URL/v1/orders/$id" | python3 -m json.tool | sed 's/^/  /'
cat <<TXT

The stack is running. Settings, keys and passwords: .run/stack.env (mode 600;
source it: . .run/stack.env)
  gateway:   $GATEWAY_URL        (API key: \$API_KEY from .run/stack.env)
  admin:     http://127.0.0.1:9100-9105/{healthz,readyz,metrics}
  logs:      .run/logs/
Place an order:
  . .run/stack.env
  curl -X POST \$GATEWAY_URL/v1/orders -H "Authorization: Bearer \$API_KEY" \\
    -H 'Content-Type: application/json' -d '$body'
Stop everything: make down
TXT
