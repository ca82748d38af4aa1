#!/usr/bin/env bash
# The Debian base image every locally built image starts FROM
# (saga-base:bookworm): debootstrap's minimal bookworm with the same archive
# suites as the host (bookworm, bookworm-updates, bookworm-security, so the
# pinned versions resolve), imported into Docker once. No registry needed.
# Usage: deploy/compose/base-image.sh
set -euo pipefail
IMAGE=saga-base:bookworm
# Made by this version of the script; an image made by another is made again.
RECIPE=2
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ "$(docker image inspect -f '{{index .Config.Labels "saga.base.recipe"}}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ]; then
	echo "$IMAGE exists"
	exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is not installed" >&2; exit 1; }
root=$(mktemp -d /tmp/saga-base.XXXXXX)
trap 'rm -rf "$root" "$root.log"' EXIT
echo "building $IMAGE with debootstrap (a few minutes, once)"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$root.log" 2>&1 ||
	{ tail -20 "$root.log" >&2; exit 1; }
cat >"$root/etc/apt/sources.list" <<LIST
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
LIST
# What a container never needs: the packages' archives and lists (each
# image's apt-get update fetches the lists again), documentation, locales.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
	"$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/log/*
tar -C "$root" -c . | docker import --change "LABEL saga.base.recipe=$RECIPE" - "$IMAGE" >/dev/null
echo "$IMAGE imported ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
