#!/usr/bin/env bash
# Run the unit tests, then the integration tests, then (with --vm, or
# CIWRAP_VM=1) the VM stage (tests/vm/run.sh: the pool on a Debian 12 guest with
# cgroup v2, for docker's systemd and cgroupfs drivers), and end with one line
# "N passed, N failed" for all together.
#
#   tests/run-all.sh [--vm] BINARY [UNIT_TEST_BINARY...]
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm=0
[[ ${CIWRAP_VM:-} == 1 ]] && vm=1
if [[ ${1:-} == --vm ]]; then
	vm=1
	shift
fi
bin=$1
shift
passed=0 failed=0 skipped=0

add_counts() { # a "N passed, N failed[, N skipped]" line
	local line=$1
	[[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]] || return 1
	passed=$((passed + BASH_REMATCH[1]))
	failed=$((failed + BASH_REMATCH[2]))
	skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
}

run_part() { # NAME COMMAND...: run it, show its output, add its closing line
	local name=$1 out last rc
	shift
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	rm -f "$out"
	if ! add_counts "$last"; then
		echo "not ok - $name: ended without a summary (status $rc)"
		failed=$((failed + 1))
	elif ((rc != 0)) && [[ $last == *" 0 failed"* ]]; then
		echo "not ok - $name: exited $rc"
		failed=$((failed + 1))
	fi
}

echo "# unit tests"
run_part unit "$here/unit/run.sh" "$@"
echo "# integration tests"
run_part integration "$here/integration/run.sh" "$bin"
if ((vm)); then
	echo "# VM tests"
	run_part vm "$here/vm/run.sh" "$bin"
fi
echo
if ((skipped)); then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
((failed == 0))
