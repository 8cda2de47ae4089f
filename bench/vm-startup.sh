#!/bin/bash
# bench/vm-startup.sh - inside the Debian 12 VM (tests/vm/run.sh --bench): what
# a session's pool costs with each cgroup manager, side by side in one run.
#
#   vm-startup.sh TIMEIT CI-WRAP DRIVER RUNS
#
# DRIVER is docker's cgroup driver at the time (the VM restarts docker between
# the two): with systemd, `ci-wrap -- true` makes and removes a transient slice
# (the systemd manager) and is compared with `systemd-run --scope --slice`,
# which makes and removes a scope in a slice; with cgroupfs, ci-wrap makes
# directories. `ci-wrap --no-cgroup -- true` (the none manager) and plain
# `true` are the floor. Each pair runs interleaved (A B, B A, ...) so drift of
# the machine hits both alike. One JSON line per comparison on stdout.
set -uo pipefail

timeit=$1 bin=$2 driver=$3 runs=$4

compare() { # NAME -- A... ::: B...
	local name=$1 out
	shift
	out=$("$timeit" -q -n "$runs" -t 60 "$@") || true
	printf '{"bench":"%s","driver":"%s","result":%s}\n' "$name" "$driver" "${out:-null}"
}

compare "none-vs-true" -- "$bin" --no-cgroup -- true ::: true
compare "pool-vs-true" -- "$bin" -- true ::: true
if [[ $driver == systemd ]]; then
	compare "pool-vs-systemd-run" -- "$bin" -- true ::: \
		systemd-run --quiet --scope --slice=ci_wrap-bench.slice true
	systemctl stop ci_wrap-bench.slice 2>/dev/null
fi
exit 0
