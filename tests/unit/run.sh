#!/usr/bin/env bash
# Run each cmocka unit test binary given; end with "N passed, N failed".
set -uo pipefail
passed=0 failed=0
for t in "$@"; do
	out=$("$t" 2>&1)
	rc=$?
	echo "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -n 1)
	if [[ -z $p && -z $f ]]; then
		echo "not ok - $t: no cmocka summary (status $rc)"
		failed=$((failed + 1))
		continue
	fi
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
done
echo "$passed passed, $failed failed"
((failed == 0))
