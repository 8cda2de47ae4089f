#!/usr/bin/env bash
# bench/list.sh - a filtered list's throughput against the raw socket (issue
# 14: GET /containers/json with 50 containers, isolation on, >= 0.95 of raw).
# A measurement to run by hand on a host prepared by `make setup`, as root.
#
#   bench/list.sh BINARY [ROUNDS] [REQUESTS]
#
# Creates 50 containers (created, not started; BENCH_LIST_OTHER of them, 0 by
# default, labelled as another session's, which the filter leaves out),
# starts `BINARY --isolation on` and runs bench/list.py: ROUNDS rounds
# (default 15) of REQUESTS (default 100) GET /v1.41/containers/json?all=1 on
# one keep-alive connection per socket, in blocks alternated between the raw
# socket and the session's. Everything it makes is labelled
# ci-wrap-bench=list and removed by that label when it ends, failed or not.
# Measure a copy of the binary, not the one `make` rewrites.
set -euo pipefail

BIN=$(readlink -f "${1:?usage: bench/list.sh BINARY [ROUNDS] [REQUESTS]}")
ROUNDS=${2:-15}
REQUESTS=${3:-100}
COUNT=${BENCH_LIST_COUNT:-50}
OTHER=${BENCH_LIST_OTHER:-0}
IMAGE=${BENCH_IMAGE:-ci-wrap-test/busybox:latest}
RAW=/var/run/docker.sock
export DOCKER_HOST=unix://$RAW
here=$(dirname "$(readlink -f "$0")")
tmp=$(mktemp -d /tmp/ci-wrap-bench-list.XXXXXX)
session=

cleanup() {
	if [[ -n $session ]]; then
		kill -TERM "$session" 2>/dev/null || true
		wait "$session" 2>/dev/null || true
	fi
	docker ps -aq --filter label=ci-wrap-bench=list | xargs -r docker rm -f >/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docker image inspect "$IMAGE" >/dev/null
for ((i = 0; i < COUNT; i++)); do
	labels=(--label ci-wrap-bench=list)
	((i < OTHER)) && labels+=(--label ci-wrap.session=bench-list-other)
	docker create "${labels[@]}" "$IMAGE" true >/dev/null
done

"$BIN" -q --no-cgroup --isolation on -- sh -c 'echo "$DOCKER_HOST" >"$0.tmp" &&
	mv "$0.tmp" "$0" && exec sleep 3600' "$tmp/host" &
session=$!
for ((i = 0; i < 100; i++)); do
	[[ -s $tmp/host ]] && break
	sleep 0.1
done
[[ -s $tmp/host ]] || {
	echo "bench-list: the session did not start" >&2
	exit 1
}
proxy=$(sed 's|^unix://||' "$tmp/host")

echo "bench-list: $(docker ps -aq | wc -l) containers ($COUNT of the bench, $OTHER another" \
	"session's), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/list.py" "$RAW" "$proxy" "$ROUNDS" "$REQUESTS"
echo "bench-list: load after $(cut -d' ' -f1-3 /proc/loadavg)"
