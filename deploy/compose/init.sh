#!/bin/sh
# The compose stack's one-shot set-up: one database and login role per
# service (passwords from the environment), and the saga's topics.
set -eu
export PGPASSWORD="$POSTGRES_PASSWORD"
for pair in "orders:$ORDERS_DB_PASSWORD" "payments:$PAYMENTS_DB_PASSWORD" \
	"inventory:$INVENTORY_DB_PASSWORD" "shipping:$SHIPPING_DB_PASSWORD" \
	"notifications:$NOTIFICATIONS_DB_PASSWORD"; do
	role=${pair%%:*}
	pw=${pair#*:}
	psql -h postgres -U postgres -v ON_ERROR_STOP=1 -v role="$role" -v pw="$pw" \
		-f /etc/saga/provision-role.sql
done
topics /etc/saga/topics.conf
echo "init: databases and topics ready"
