#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those that are missing.
# Usage: deploy/local/install.sh [PACKAGE...]: the packages named instead of
# the project's list (the compose test's Docker engine names its own).
set -euo pipefail

PACKAGES=(
	build-essential pkg-config
	librdkafka-dev libmicrohttpd-dev libpq-dev libavro-dev libjansson-dev
	libhiredis-dev libcriterion-dev uuid-dev libssl-dev
	postgresql postgresql-contrib redis-server
	openjdk-17-jre-headless maven kcat
	python3 python3-avro python3-yaml python3-venv docker-compose
	clang-format cppcheck valgrind gnuplot-nox curl procps bc
)
[ $# -eq 0 ] || PACKAGES=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "[install] all ${#PACKAGES[@]} packages present"
	exit 0
fi

echo "[install] installing: ${missing[*]}"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
	$SUDO apt-get update -q
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "[install] done"
