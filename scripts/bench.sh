#!/usr/bin/env bash
# End-to-end benchmark of `reconcile run` against the built-in simulator on
# loopback (BENCHMARKS.md describes the reference workload and the results).
#
#   scripts/bench.sh                                   # reference workload W1M
#   BENCH_CHARGES=20000 BENCH_CUSTOMERS=200 scripts/bench.sh   # quick smoke run
#
# Environment:
#   BENCH_CHARGES     payable lines in the one payable response (default 1000000)
#   BENCH_CUSTOMERS   customers, one receivables call each (default 10000)
#   BENCH_TOKEN_TTL   simulator token lifetime (default 60s: tokens expire during the run)
#   BENCH_SEED        simulator seed (default 20261001)
#   BENCH_CPUPROFILE  if set, `reconcile run --cpuprofile` writes there
#   BENCH_MEMPROFILE  if set, `reconcile run --memprofile` writes there
#   BENCH_KEEP        if set, keep the temporary folder (ledger, workbook, logs)
#   BENCH_EXTRA       extra flags for `reconcile run` (e.g. "--concurrency 8")
#   BENCH_BIN         the binary to time (default: build bin/reconcile)
#   BENCH_DB          the ledger: default a new SQLite file in the temporary
#                     folder; a postgres://… URL of an empty database runs the
#                     workload against PostgreSQL (BENCHMARKS.md, PostgreSQL)
set -euo pipefail

cd "$(dirname "$0")/.."
CHARGES=${BENCH_CHARGES:-1000000}
CUSTOMERS=${BENCH_CUSTOMERS:-10000}
TTL=${BENCH_TOKEN_TTL:-60s}
SEED=${BENCH_SEED:-20261001}

. scripts/bench-lib.sh
BIN=$(bench_build bin/reconcile) # BENCH_BIN or a new build, timed as read from disk

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reconcile-bench.XXXXXX")
SIM_PID=""
cleanup() {
	if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
	if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT INT TERM

# A free loopback port: bind port 0 and read back what the kernel gave.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
ADDR=127.0.0.1:$PORT
BASE=http://$ADDR

echo "== simulator on $ADDR: $CUSTOMERS customers, $CHARGES payable charges, token TTL $TTL, seed $SEED"
"$BIN" sim --addr "$ADDR" --seed "$SEED" --customers "$CUSTOMERS" --charges "$CHARGES" --token-ttl "$TTL" >"$TMP/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 1 100); do
	if curl -s -o /dev/null "$BASE/" 2>/dev/null; then break; fi
	if ! kill -0 "$SIM_PID" 2>/dev/null; then echo "simulator exited:"; cat "$TMP/sim.log"; exit 1; fi
	sleep 0.1
done

export SHERWEB_BASE_URL=$BASE SHERWEB_CLIENT_ID=sim-client SHERWEB_CLIENT_SECRET=sim-secret SHERWEB_SUBSCRIPTION_KEY=sim-key
DB=${BENCH_DB:-$TMP/bench.db}
ARGS=(run --period 2026-10 -v --db "$DB" --out "$TMP/w.xlsx" --json "$TMP/summary.json")
[ -n "${BENCH_CPUPROFILE:-}" ] && ARGS+=(--cpuprofile "$BENCH_CPUPROFILE")
[ -n "${BENCH_MEMPROFILE:-}" ] && ARGS+=(--memprofile "$BENCH_MEMPROFILE")
# shellcheck disable=SC2206
[ -n "${BENCH_EXTRA:-}" ] && ARGS+=($BENCH_EXTRA)

echo "== $BIN ${ARGS[*]}"
set +e
if [ -x /usr/bin/time ]; then
	/usr/bin/time -v -o "$TMP/time.txt" "$BIN" "${ARGS[@]}" 2>"$TMP/run.log"
	RC=$?
	WALL=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/time.txt")
	RSS_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time.txt")
	CPU_USER=$(sed -n 's/.*User time (seconds): //p' "$TMP/time.txt")
	CPU_SYS=$(sed -n 's/.*System time (seconds): //p' "$TMP/time.txt")
else
	# No GNU time: sample VmHWM (the kernel's peak RSS) while the run lives.
	T0=$(date +%s.%N)
	"$BIN" "${ARGS[@]}" 2>"$TMP/run.log" &
	PID=$!
	RSS_KB=0
	while kill -0 "$PID" 2>/dev/null; do
		h=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
		[ -n "$h" ] && [ "$h" -gt "$RSS_KB" ] && RSS_KB=$h
		sleep 0.2
	done
	wait "$PID"
	RC=$?
	WALL=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f s", b-a}')
	CPU_USER=? CPU_SYS=?
fi
set -e

echo "== stages (from the -v log)"
grep -E 'msg="(stage done|fetch run finished)"' "$TMP/run.log" || true
grep -v -E 'level=(DEBUG|INFO)' "$TMP/run.log" | tail -n 5 || true
if [ "$RC" -ne 0 ]; then echo "reconcile run exited $RC"; tail -n 20 "$TMP/run.log"; exit "$RC"; fi

# The payable body's size, for the decode rate in MB/s: fetch it once more
# after the timed run (the data is a pure function of seed and period).
TOKEN=$(curl -s -H "Ocp-Apim-Subscription-Key: sim-key" \
	-d grant_type=client_credentials -d client_id=sim-client -d client_secret=sim-secret -d scope=distributor \
	"$BASE/auth/oidc/connect/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
BYTES=$(curl -s -o /dev/null -w '%{size_download}' -H "Ocp-Apim-Subscription-Key: sim-key" \
	-H "Authorization: Bearer $TOKEN" "$BASE/distributor/v1/billing/payable-charges?date=2026-10-01")
PAY_SECS=$(sed -n 's/.*stage="payable fetch+store" elapsed=\([0-9.]*\)\(m\?s\).*/\1 \2/p' "$TMP/run.log" |
	awk '{ if ($2 == "ms") print $1/1000; else print $1 }')
# durations over a minute print as 1m2.5s
[ -z "$PAY_SECS" ] && PAY_SECS=$(sed -n 's/.*stage="payable fetch+store" elapsed=\([0-9]*\)m\([0-9.]*\)s.*/\1 \2/p' "$TMP/run.log" | awk '{print $1*60+$2}')

echo "== results"
echo "wall time:          $WALL"
echo "CPU user/sys:       ${CPU_USER}s / ${CPU_SYS}s"
awk -v k="$RSS_KB" 'BEGIN{printf "peak RSS:           %.1f MiB\n", k/1024}'
awk -v b="$BYTES" -v s="$PAY_SECS" 'BEGIN{ if (s > 0) printf "payable body:       %.1f MB, fetch+decode+store %.1f MB/s\n", b/1e6, b/1e6/s; else printf "payable body:       %.1f MB\n", b/1e6 }'
echo "token requests:     $(sed -n 's/.*msg="fetch run finished".*token_requests=\([0-9]*\).*/\1/p' "$TMP/run.log")"
ls -l "$TMP/w.xlsx" | awk '{printf "workbook:           %.1f MB\n", $5/1e6}'
