#!/usr/bin/env bash
# The Debian base image every compose image is built FROM (saga-base:bookworm):
# debootstrap's minimal bookworm, imported into Docker once. No registry is
# needed. Usage: deploy/compose/base-image.sh
set -euo pipefail
IMAGE=saga-base:bookworm
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
	echo "$IMAGE exists"
	exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is not installed" >&2; exit 1; }
root=$(mktemp -d /tmp/saga-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "building $IMAGE with debootstrap (a few minutes, once)"
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 ||
	{ tail -20 "$root.log" >&2; exit 1; }
tar -C "$root" -c . | docker import - "$IMAGE" >/dev/null
rm -f "$root.log"
echo "$IMAGE imported"
