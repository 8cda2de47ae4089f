#!/usr/bin/env bash
# bench/ls.sh - how long `ci-wrap ls` takes on a busy agent (issue 16: at
# most 50 ms with 20 live sessions). Not a timed test: a measurement to run
# by hand on a host prepared by `make setup`, as root.
#
#   bench/ls.sh BINARY [SESSIONS] [RUNS]
#
# Starts SESSIONS (default 20) sessions with a pool, each holding a running
# container and a volume, times RUNS (default 30) runs of `BINARY ls --json`
# and of the table (through script(1), a terminal), prints the median, p90
# and max in ms, and ends the sessions (their teardown removes everything).
set -euo pipefail

BIN=$(readlink -f "${1:?usage: bench/ls.sh BINARY [SESSIONS] [RUNS]}")
N=${2:-20}
RUNS=${3:-30}
IMAGE=${BENCH_IMAGE:-ci-wrap-test/busybox:latest}
export DOCKER_HOST=unix:///var/run/docker.sock
tmp=$(mktemp -d /tmp/ci-wrap-bench-ls.XXXXXX)
pids=()

cleanup() {
	((${#pids[@]})) && kill -TERM "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

for ((i = 0; i < N; i++)); do
	"$BIN" -q --grace 1s --memory 256m --job-id "bench-ls-$$" -- sh -c '
		docker run -d --label ci-wrap-bench=1 "$0" sleep 600 >/dev/null &&
		docker volume create --label ci-wrap-bench=1 >/dev/null && touch "$1" && exec sleep 600' \
		"$IMAGE" "$tmp/ready.$i" 2>>"$tmp/err" &
	pids+=($!)
done
deadline=$((SECONDS + 120))
until (($(find "$tmp" -name 'ready.*' | wc -l) == N)); do
	((SECONDS < deadline)) || {
		echo "bench-ls: the sessions did not start: $(tail -n 3 "$tmp/err")" >&2
		exit 1
	}
	sleep 0.2
done
got=$("$BIN" ls --json | grep -c "\"job\":\"bench-ls-$$\"")
echo "bench-ls: $got sessions of this run live ($("$BIN" ls --json | wc -l) on the host)"

# Milliseconds of each of RUNS runs of the command; then median, p90, max.
measure() { # NAME COMMAND...
	local name=$1 t0 t1
	shift
	"$@" >/dev/null 2>&1 # warm the page cache
	for ((r = 0; r < RUNS; r++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | sort -n | awk -v name="$name" '{ v[NR] = $1 } END {
		printf "bench-ls: %-6s median %.1f ms, p90 %.1f ms, max %.1f ms (%d runs)\n",
			name, v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.9 + 0.5)] / 1000, v[NR] / 1000, NR }'
}
# CPU time of ls itself (user + system, children of this shell), which a busy
# host's load does not stretch as it does the wall clock.
cpu_per_run() { # COMMAND...
	local before after
	before=$(awk '{ print $16 + $17 }' /proc/$$/stat)
	for ((r = 0; r < RUNS; r++)); do "$@" >/dev/null 2>&1; done
	after=$(awk '{ print $16 + $17 }' /proc/$$/stat)
	awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v n="$RUNS" \
		'BEGIN { printf "bench-ls: cpu    %.1f ms per ls --json (user + system)\n", t * 1000 / hz / n }'
}
echo "bench-ls: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
measure json "$BIN" ls --json
measure table script -qec "$BIN ls" /dev/null
cpu_per_run "$BIN" ls --json
