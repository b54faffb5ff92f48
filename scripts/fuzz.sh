#!/usr/bin/env bash
# Runs every fuzz target in the tree (each `func FuzzXxx` in a _test.go file),
# one after the other, for FUZZTIME each (default 30s). `make fuzz` calls it.
# A new fuzzer is picked up without editing anything.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-30s}"

targets=$(grep -rH --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' cmd internal queries 2>/dev/null |
	sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#./\1 \2#' | sort -u)
if [ -z "$targets" ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi
n=$(printf '%s\n' "$targets" | wc -l)
echo "$n fuzz targets, $FUZZTIME each"
printf '%s\n' "$targets" | while read -r pkg fn; do
	echo "== $fn ($pkg)"
	go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" "$pkg"
done
