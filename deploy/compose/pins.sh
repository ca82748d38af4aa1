#!/usr/bin/env bash
# The exact package versions the images install (name=version in the
# apt-get lines of deploy/Dockerfile and deploy/compose/test-images/*), and
# the version Debian's archive offers now. Usage: deploy/compose/pins.sh
# check|refresh
#   check    exit 1, naming each, when a pin is no longer what the archive
#            offers (its build would fail: Debian keeps one version per release)
#   refresh  rewrite every stale pin to the archive's version
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=(deploy/Dockerfile deploy/compose/test-images/*.Dockerfile)

pins() { grep -ohE '\b[a-z0-9][a-z0-9.+-]*=[0-9][A-Za-z0-9.+:~-]*' "${FILES[@]}" | sort -u; }
offered() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }

[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' 2>/dev/null | head -n 1)" ] ||
	{ echo "pins: no package lists here (apt-get update first)" >&2; exit 1; }
stale=0
while IFS== read -r name version; do
	now=$(offered "$name")
	[ "$now" = "$version" ] && continue
	stale=$((stale + 1))
	if [ "${1:-check}" = refresh ] && [ -n "$now" ] && [ "$now" != "(none)" ]; then
		sed -i "s/\b$name=$(sed 's/[.+~]/\\&/g' <<<"$version")\b/$name=$now/g" "${FILES[@]}"
		echo "pins: $name $version -> $now"
	else
		echo "pins: $name=$version, but the archive offers ${now:-nothing}" >&2
	fi
done < <(pins)
n=$(pins | wc -l)
if [ "$stale" -gt 0 ] && [ "${1:-check}" != refresh ]; then
	echo "pins: $stale of $n pins are stale; deploy/compose/pins.sh refresh updates them" >&2
	exit 1
fi
if [ "${1:-check}" = refresh ]; then
	echo "pins: $n packages pinned, $stale refreshed"
else
	echo "pins: $n packages pinned, each the archive's version"
fi
