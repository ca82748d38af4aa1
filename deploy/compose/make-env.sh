#!/bin/sh
# Writes .env for compose.yaml with fresh random passwords and an API key,
# unless it exists. Nothing secret is stored in the repository.
set -eu
[ -f .env ] && { echo ".env exists; keeping it"; exit 0; }
rnd() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
umask 077
cat >.env <<ENV
POSTGRES_PASSWORD=$(rnd)
ORDERS_DB_PASSWORD=$(rnd)
PAYMENTS_DB_PASSWORD=$(rnd)
INVENTORY_DB_PASSWORD=$(rnd)
SHIPPING_DB_PASSWORD=$(rnd)
NOTIFICATIONS_DB_PASSWORD=$(rnd)
API_KEY=dev-$(rnd)
ENV
echo "wrote .env (API_KEY is the key for the gateway)"
