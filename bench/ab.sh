#!/usr/bin/env bash
# bench/ab.sh - a quick A/B of one stream test, for checking a full run's
# noisy ratio by hand (bench/analysis.md).
#
#   bench/ab.sh TEST ROUNDS MIB BINARY...     TEST: exec_in exec_out run_in run_out
#
# Targets: the raw socket, each BINARY's proxy (ci-wrap --no-cgroup), and the
# bare relay (bench/build/relay: run `make bench` or `bench/run.sh` once to
# build it). Every round runs each target once, in an order rotated by one
# per round, and measures the hypervisor's steal during each run. Prints
# medians of MB/s over all runs, and over runs with steal <= 10% and <= 5%.
# Needs dockerd and the image ci-wrap-test/busybox:latest (`make setup`);
# what it creates carries the label ci-wrap-bench=1 and is removed on exit.
set -euo pipefail

[[ $# -ge 4 ]] || {
	echo "usage: bench/ab.sh TEST ROUNDS MIB BINARY..." >&2
	exit 2
}
TEST=$1 ROUNDS=$2 BYTES=$(($3 * 1048576))
shift 3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE=${BENCH_IMAGE:-ci-wrap-test/busybox:latest}
LABEL=ci-wrap-bench=1
WORK=$(mktemp -d /tmp/cwab.XXXXXX)
C=cwab-$$
PIDS=()
declare -A HOST=([raw]=unix:///var/run/docker.sock)
TARGETS=(raw)

cleanup() {
	((${#PIDS[@]})) && kill "${PIDS[@]}" 2>/dev/null
	wait 2>/dev/null || true
	docker rm -f "$C" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
export DOCKER_HOST=${HOST[raw]}

docker run -d --name "$C" --label "$LABEL" "$IMAGE" sleep 1000000 >/dev/null
i=0
for bin in "$@"; do
	# shellcheck disable=SC2016 # expanded by the wrapped shell
	"$bin" --no-cgroup -q -- sh -c 'echo "$DOCKER_HOST" >"$0"; exec sleep 1000000' \
		"$WORK/host$i" &
	PIDS+=($!)
	TARGETS+=("ci-wrap$i")
	i=$((i + 1))
done
"$HERE/build/relay" "$WORK/relay.sock" /var/run/docker.sock &
PIDS+=($!)
HOST[relay]=unix://$WORK/relay.sock
TARGETS+=(relay)
for ((j = 0; j < i; j++)); do
	for _ in $(seq 50); do [[ -s $WORK/host$j ]] && break; sleep 0.1; done
	HOST[ci-wrap$j]=$(cat "$WORK/host$j")
done
sleep 0.5

steal() { awk '/^cpu /{print $9}' /proc/stat; }
stream() {
	case $TEST in
	exec_in) head -c "$BYTES" /dev/zero | DOCKER_HOST=$1 docker exec -i "$C" cat ;;
	exec_out) DOCKER_HOST=$1 docker exec "$C" head -c "$BYTES" /dev/zero ;;
	run_in) head -c "$BYTES" /dev/zero | DOCKER_HOST=$1 docker run -i --rm --log-driver none \
		--label "$LABEL" "$IMAGE" cat ;;
	run_out) DOCKER_HOST=$1 docker run --rm --log-driver none --label "$LABEL" "$IMAGE" \
		head -c "$BYTES" /dev/zero ;;
	*) echo "bench/ab.sh: unknown test $TEST" >&2 && exit 2 ;;
	esac >/dev/null
}

n=${#TARGETS[@]}
hz=$(getconf CLK_TCK)
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < n; k++)); do
		t=${TARGETS[$(((k + r) % n))]}
		s0=$(steal) t0=$(date +%s%N)
		stream "${HOST[$t]}"
		s1=$(steal) t1=$(date +%s%N)
		# MB/s, and steal in % of one CPU over the run
		echo "$t $((BYTES * 1000 / (t1 - t0))) $(((s1 - s0) * 100000000000 / hz / (t1 - t0)))"
	done
done >"$WORK/runs"

python3 - "$WORK/runs" "${TARGETS[@]}" <<'EOF'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1])]
for limit in (100, 10, 5):
    cells = []
    for t in sys.argv[2:]:
        v = [int(mb) for name, mb, st in runs if name == t and int(st) <= limit]
        cells.append(f"{t} {statistics.median(v) if v else '-'} MB/s (n={len(v)})")
    print(f"steal <= {limit}%: " + "; ".join(cells))
EOF
