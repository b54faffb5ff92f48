# Shared helpers of the end-to-end benchmark scripts (bench-targets.sh,
# bench-scale.sh). Source it; it sets nothing up by itself.
#
# Every timed command goes through /usr/bin/time -f '%e %U %S %M' (wall
# seconds, user and system CPU seconds, peak RSS in KiB).

# bench_build BIN: builds the tool unless BENCH_BIN names one, then drops the
# binary from the page cache (bench_evict).
bench_build() {
	local bin=$1
	if [ -n "${BENCH_BIN:-}" ]; then
		bin=$BENCH_BIN
	else
		echo "== build" >&2
		CGO_ENABLED=1 go build -o "$bin" ./cmd/reconcile >&2
	fi
	bench_evict "$bin"
	echo "$bin"
}

# bench_evict FILE: writes FILE's dirty pages and drops it from the page
# cache, so that every binary is timed as one read from disk. A binary as go
# build's linker leaves it in the page cache (written through a memory
# mapping) runs with ≈ 6 MiB more peak RSS than the same bytes read back from
# disk (byte-identical binaries, W100k: 32 against 26 MiB after the customer
# list, 54 against 48 after the payable stage; BENCHMARKS.md, "Connections,
# small writes and how a binary is timed").
bench_evict() {
	sync "$1" 2>/dev/null || true
	dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true
}

# bench_free_port: a free loopback port.
bench_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}

# bench_sim_start BIN LOG ARGS...: starts `BIN sim ARGS` on a free loopback
# port, waits until it answers, and exports the SHERWEB_* variables that
# point the tool at it. Sets BENCH_SIM_PID.
bench_sim_start() {
	local bin=$1 log=$2
	shift 2
	local addr
	addr=127.0.0.1:$(bench_free_port)
	"$bin" sim --addr "$addr" "$@" >"$log" 2>&1 &
	BENCH_SIM_PID=$!
	for _ in $(seq 1 200); do
		if curl -s -o /dev/null "http://$addr/" 2>/dev/null; then break; fi
		if ! kill -0 "$BENCH_SIM_PID" 2>/dev/null; then
			echo "simulator exited:" >&2
			cat "$log" >&2
			return 1
		fi
		sleep 0.1
	done
	export SHERWEB_BASE_URL=http://$addr SHERWEB_CLIENT_ID=sim-client SHERWEB_CLIENT_SECRET=sim-secret SHERWEB_SUBSCRIPTION_KEY=sim-key
}

# bench_sim_stop: stops the simulator bench_sim_start started.
bench_sim_stop() {
	if [ -n "${BENCH_SIM_PID:-}" ]; then
		kill "$BENCH_SIM_PID" 2>/dev/null || true
		wait "$BENCH_SIM_PID" 2>/dev/null || true
		BENCH_SIM_PID=""
	fi
}

# bench_time OUT LOG CMD...: runs CMD with stderr to LOG, timed; writes
# "wall user sys rss_kib" to OUT. Returns CMD's exit code.
bench_time() {
	local out=$1 log=$2
	shift 2
	local rc=0
	/usr/bin/time -f '%e %U %S %M' -o "$out.raw" "$@" >/dev/null 2>"$log" || rc=$?
	# GNU time prints "Command exited with non-zero status N" first then.
	tail -n 1 "$out.raw" >"$out"
	return "$rc"
}

# bench_median: the median of the numbers on stdin (one per line; the lower
# middle one for an even count).
bench_median() {
	sort -g | awk '{a[NR]=$1} END{ if (NR == 0) print "nan"; else print a[int((NR+1)/2)] }'
}

# bench_log_field LOG STAGE FIELD: FIELD=value of the `stage done` line of
# STAGE in a -v log.
bench_log_field() {
	grep -E "msg=\"stage done\" stage=\"?$2\"? " "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# bench_ledger_bytes DB: bytes of a SQLite ledger with its WAL and shm files.
bench_ledger_bytes() {
	local n=0 f s
	for f in "$1" "$1-wal" "$1-journal"; do
		if [ -e "$f" ]; then
			s=$(stat -c %s "$f")
			n=$((n + s))
		fi
	done
	echo "$n"
}
