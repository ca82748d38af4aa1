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
	psql -h postgres -U postgres -v ON_ERROR_STOP=1 -v role="$role" -v pw="$pw" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'role', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'role') \gexec
SQL
done
topics /etc/saga/topics.conf
echo "init: databases and topics ready"
