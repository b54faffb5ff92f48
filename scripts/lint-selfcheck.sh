#!/usr/bin/env bash
# Proves the depguard layer rules in .golangci.yml bite: copies the tree to a
# temporary folder, plants imports that break the layers, runs golangci-lint
# with depguard only on the packages concerned, and fails unless depguard
# reports every planted import. `make lint` runs it.
#
#   internal/fetch    imports internal/ledger   (adapters never import each other)
#   internal/report   imports internal/fetch    (same, another adapter)
#   internal/mail     imports internal/ledger   (mail takes values; job records deliveries)
#   internal/billing  imports internal/report   (billing imports no sibling;
#                     planted in an external test package, billing_test, since
#                     any billing -> sibling import in package billing is an
#                     import cycle that stops the type checker first)
#   internal/amend    imports internal/ledger   (amendment planning is pure:
#                     billing and report only)
#   internal/zzselfcheck (a new package) imports internal/job (only cmd
#                     imports job; a new package, since every adapter is
#                     imported by job and would make an import cycle)
#
# The planted imports are chosen so that they make no import cycle (fetch's
# tests import the simulator, job imports the adapters): a cycle stops the
# type checker before depguard runs.
#
# Usage: scripts/lint-selfcheck.sh [path/to/golangci-lint]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
lint=${1:-bin/golangci-lint}
case $lint in /*) ;; *) lint=$root/$lint ;; esac
mod=github.com/msp-reconcile/reconcile

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lint-selfcheck.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -C "$root" --exclude=./.git --exclude=./bin --exclude=./tools --exclude=./sample-output -cf - . | tar -C "$tmp" -xf -

plant() { # file package import
	printf 'package %s\n\nimport _ "%s"\n' "$2" "$3" >"$tmp/$1"
}
plant internal/fetch/zz_selfcheck.go fetch "$mod/internal/ledger"
plant internal/report/zz_selfcheck.go report "$mod/internal/fetch"
plant internal/mail/zz_selfcheck.go mail "$mod/internal/ledger"
plant internal/billing/zz_selfcheck_test.go billing_test "$mod/internal/report"
plant internal/amend/zz_selfcheck.go amend "$mod/internal/ledger"
mkdir -p "$tmp/internal/zzselfcheck"
plant internal/zzselfcheck/zz_selfcheck.go zzselfcheck "$mod/internal/job"

out=$(cd "$tmp" && "$lint" run --enable-only depguard --output.text.path stdout \
	./internal/fetch/ ./internal/report/ ./internal/mail/ ./internal/amend/ ./internal/billing/ ./internal/zzselfcheck/ 2>&1) || true

fail=0
for want in \
	"internal/fetch/zz_selfcheck.go:.*$mod/internal/ledger.*(depguard)" \
	"internal/report/zz_selfcheck.go:.*$mod/internal/fetch.*(depguard)" \
	"internal/mail/zz_selfcheck.go:.*$mod/internal/ledger.*(depguard)" \
	"internal/billing/zz_selfcheck_test.go:.*$mod/internal/report.*(depguard)" \
	"internal/amend/zz_selfcheck.go:.*$mod/internal/ledger.*(depguard)" \
	"internal/zzselfcheck/zz_selfcheck.go:.*$mod/internal/job.*(depguard)"; do
	if ! grep -Eq "$want" <<<"$out"; then
		echo "lint-selfcheck: depguard did not report: $want" >&2
		fail=1
	fi
done
# Nothing but the planted imports: the real tree is clean.
if grep -E '\(depguard\)' <<<"$out" | grep -vq 'zz_selfcheck'; then
	echo "lint-selfcheck: depguard reports more than the planted imports" >&2
	fail=1
fi
if [ "$fail" -ne 0 ]; then
	echo "golangci-lint output:" >&2
	echo "$out" >&2
	exit 1
fi
grep -E "\(depguard\)" <<<"$out"
echo "lint-selfcheck: depguard caught all 5 planted wrong imports"
