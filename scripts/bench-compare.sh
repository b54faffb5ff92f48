#!/usr/bin/env bash
# End-to-end benchmark of `reconcile compare` of two W1M-sized months
# (BENCHMARKS.md, "Compare"): the simulator serves a history of months
# (`sim --history`), `reconcile fetch` stores 2026-09 and 2026-10 in one
# ledger, then `reconcile compare --base 2026-09 --period 2026-10` is timed
# with /usr/bin/time -v (peak RSS, wall time), BENCH_COMPARE_RUNS times.
#
#   scripts/bench-compare.sh                                    # W1M: 1M charges, 10,000 customers
#   BENCH_CHARGES=20000 BENCH_CUSTOMERS=200 scripts/bench-compare.sh   # quick smoke run
#
# Environment:
#   BENCH_CHARGES        payable lines per month (default 1000000)
#   BENCH_CUSTOMERS      customers (default 10000)
#   BENCH_SEED           simulator seed (default 20261001)
#   BENCH_COMPARE_DB     ledger to use: fetched into when it does not exist yet,
#                        reused as is when it does (the fetch takes minutes)
#   BENCH_COMPARE_RUNS   timed compare runs (default 3; the median is printed)
#   BENCH_COMPARE_SAME   if set, also time a restatement check: a second fetch
#                        of 2026-10 compared with the first (--base-run/--run)
#   BENCH_BIN            the binary to time (default: build bin/reconcile)
#   BENCH_KEEP           if set, keep the temporary folder
set -euo pipefail

cd "$(dirname "$0")/.."
CHARGES=${BENCH_CHARGES:-1000000}
CUSTOMERS=${BENCH_CUSTOMERS:-10000}
SEED=${BENCH_SEED:-20261001}
RUNS=${BENCH_COMPARE_RUNS:-3}

. scripts/bench-lib.sh
BIN=$(bench_build bin/reconcile) # BENCH_BIN or a new build, timed as read from disk

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reconcile-bench-compare.XXXXXX")
DB=${BENCH_COMPARE_DB:-$TMP/bench.db}
SIM_PID=""
cleanup() {
	if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
	if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT INT TERM

if [ ! -e "$DB" ]; then
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
	ADDR=127.0.0.1:$PORT
	echo "== simulator on $ADDR (history): $CUSTOMERS customers, $CHARGES payable charges per month, seed $SEED"
	"$BIN" sim --history --addr "$ADDR" --seed "$SEED" --customers "$CUSTOMERS" --charges "$CHARGES" >"$TMP/sim.log" 2>&1 &
	SIM_PID=$!
	for _ in $(seq 1 100); do
		if curl -s -o /dev/null "http://$ADDR/" 2>/dev/null; then break; fi
		if ! kill -0 "$SIM_PID" 2>/dev/null; then echo "simulator exited:"; cat "$TMP/sim.log"; exit 1; fi
		sleep 0.1
	done
	export SHERWEB_BASE_URL=http://$ADDR SHERWEB_CLIENT_ID=sim-client SHERWEB_CLIENT_SECRET=sim-secret SHERWEB_SUBSCRIPTION_KEY=sim-key
	MONTHS=(2026-09 2026-10)
	[ -n "${BENCH_COMPARE_SAME:-}" ] && MONTHS+=(2026-10)
	for m in "${MONTHS[@]}"; do
		echo "== fetch $m into $DB"
		set +e
		"$BIN" fetch --period "$m" --db "$DB" --no-subscriptions >"$TMP/fetch-$m.log" 2>&1
		rc=$?
		set -e
		# 3: a partial run (the history plants one customer whose receivables fail in 2026-09)
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then tail -n 20 "$TMP/fetch-$m.log"; exit "$rc"; fi
		tail -n 1 "$TMP/fetch-$m.log"
	done
	kill "$SIM_PID" 2>/dev/null || true
	wait "$SIM_PID" 2>/dev/null || true
	SIM_PID=""
fi
"$BIN" runs --db "$DB" || true

# time_compare NAME ARGS...: runs `reconcile compare ARGS` RUNS times, prints
# each run's wall time and peak RSS, then the medians.
time_compare() {
	local name=$1
	shift
	local walls=() rsss=()
	for i in $(seq 1 "$RUNS"); do
		rm -f "$TMP/c.xlsx" "$TMP/c.json"
		set +e
		/usr/bin/time -v -o "$TMP/time.txt" "$BIN" compare "$@" --db "$DB" --out "$TMP/c.xlsx" --json "$TMP/c.json" -v 2>"$TMP/compare.log"
		local rc=$?
		set -e
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then echo "compare exited $rc"; tail -n 20 "$TMP/compare.log"; exit "$rc"; fi
		local wall rss cpu
		wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/time.txt" | awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
		rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time.txt")
		cpu=$(awk '/(User|System) time \(seconds\)/ {s += $NF} END {printf "%.1f", s}' "$TMP/time.txt")
		walls+=("$wall")
		rsss+=("$rss")
		awk -v n="$name" -v i="$i" -v w="$wall" -v k="$rss" -v c="$cpu" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
			'BEGIN{printf "%s run %d: wall %.1f s, CPU %s s, peak RSS %.1f MiB (load %s)\n", n, i, w, c, k/1024, l}'
		grep -E 'msg="stage done"' "$TMP/compare.log" || true
	done
	printf '%s\n' "${walls[@]}" | sort -n | awk -v n="$name" '{a[NR]=$1} END{printf "%s median wall: %.1f s\n", n, a[int((NR+1)/2)]}'
	printf '%s\n' "${rsss[@]}" | sort -n | awk -v n="$name" '{a[NR]=$1} END{printf "%s median peak RSS: %.1f MiB\n", n, a[int((NR+1)/2)]/1024}'
}

echo "== uptime: $(uptime)"
time_compare periods --base 2026-09 --period 2026-10
ls -l "$TMP/c.xlsx" "$TMP/c.json" | awk '{printf "%s %.1f MB\n", $9, $5/1e6}'
if [ -n "${BENCH_COMPARE_SAME:-}" ]; then
	time_compare restatement --base-run 2 --run 3
fi
