#!/usr/bin/env bash
# The scaling curve (BENCHMARKS.md, "Scaling"): `reconcile run` against the
# built-in simulator at several sizes, each timed with /usr/bin/time (wall,
# user+sys CPU, peak RSS), printed as a markdown table: cost should grow
# linearly in lines, memory should stay flat.
#
#   scripts/bench-scale.sh                                   # 10k, 100k, 1M, 3M payable lines
#   BENCH_SCALE="2000:100 20000:200" scripts/bench-scale.sh   # quick smoke run
#
# Environment:
#   BENCH_SCALE       the points, "LINES:CUSTOMERS ..." (default
#                     "10000:1000 100000:1000 1000000:10000 3000000:30000")
#   BENCH_REPEAT      runs per point; the median is reported (default 1)
#   BENCH_EXTRA       extra flags for `reconcile run` (e.g. "--detail csv")
#   BENCH_TOKEN_TTL   simulator token lifetime (default 60s)
#   BENCH_SEED        simulator seed (default 20261001)
#   BENCH_BIN         the binary to time (default: build bin/reconcile)
#   BENCH_KEEP        if set, keep the temporary folder (ledgers, logs)
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

SCALE=${BENCH_SCALE:-10000:1000 100000:1000 1000000:10000 3000000:30000}
REPEAT=${BENCH_REPEAT:-1}
TTL=${BENCH_TOKEN_TTL:-60s}
SEED=${BENCH_SEED:-20261001}
BIN=$(bench_build bin/reconcile)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reconcile-bench-scale.XXXXXX")
cleanup() {
	bench_sim_stop
	if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT INT TERM

echo "== scaling curve: $SCALE; median of $REPEAT; uptime: $(uptime)"
ROWS=()
for point in $SCALE; do
	lines=${point%%:*} customers=${point##*:}
	bench_sim_start "$BIN" "$TMP/sim-$lines.log" --seed "$SEED" --customers "$customers" --charges "$lines" --token-ttl "$TTL"
	: >"$TMP/wall" && : >"$TMP/cpu" && : >"$TMP/rss"
	for i in $(seq 1 "$REPEAT"); do
		rm -rf "$TMP/run" && mkdir "$TMP/run"
		rc=0
		# shellcheck disable=SC2086
		bench_time "$TMP/t" "$TMP/run-$lines.log" "$BIN" run --period 2026-10 -v --db "$TMP/run/l.db" \
			--out "$TMP/run/w.xlsx" --json "$TMP/run/s.json" ${BENCH_EXTRA:-} </dev/null || rc=$?
		if [ "$rc" -ne 0 ]; then
			echo "reconcile run at $lines lines exited $rc" >&2
			tail -n 20 "$TMP/run-$lines.log" >&2
			exit "$rc"
		fi
		read -r wall user sys rss <"$TMP/t"
		echo "$wall" >>"$TMP/wall"
		awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}' >>"$TMP/cpu"
		echo "$rss" >>"$TMP/rss"
		awk -v n="$lines" -v c="$customers" -v i="$i" -v w="$wall" -v u="$user" -v s="$sys" -v k="$rss" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
			'BEGIN{printf "%s lines, %s customers, run %d: wall %.1f s, CPU %.1f s, peak RSS %.1f MiB (load %s)\n", n, c, i, w, u+s, k/1024, l}'
	done
	bench_sim_stop
	W=$(bench_median <"$TMP/wall") C=$(bench_median <"$TMP/cpu") R=$(bench_median <"$TMP/rss")
	PAY=$(bench_log_field "$TMP/run-$lines.log" "payable fetch\\+store" lines)
	REC=$(bench_log_field "$TMP/run-$lines.log" "customers fan-out" receivable_lines)
	BYTES=$(bench_ledger_bytes "$TMP/run/l.db")
	ROWS+=("$(awk -v n="$lines" -v c="$customers" -v p="${PAY:-0}" -v r="${REC:-0}" -v w="$W" -v cpu="$C" -v k="$R" -v b="$BYTES" 'BEGIN{
		t = p + r
		printf "| %d | %d | %d | %d | %.1f | %.1f | %.1f | %s | %s |", n, c, p, r, w, cpu, k/1024,
			(t > 0 ? sprintf("%.1f", cpu*1e6/t) : "-"), (t > 0 ? sprintf("%.0f", b/t) : "-")
	}')")
done

echo
echo "== scaling curve (median of $REPEAT; 2 cores, simulator on the same cores)"
echo "| payable lines (asked) | customers | payable lines | receivable lines | wall s | CPU s (user+sys) | peak RSS MiB | CPU µs per line | ledger B per line |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
