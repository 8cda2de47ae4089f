#!/usr/bin/env bash
# ci-wrap in thirty seconds: a "CI job" that leaves a container running, a
# network, a volume and an image behind, and what is left of them afterwards.
#
# Usage: examples/demo.sh [BINARY]    (BINARY defaults to ./ci-wrap)
# Needs a running dockerd and the image ci-wrap-test/busybox (make setup).
# Everything the job creates goes through ci-wrap's proxy, so ci-wrap removes
# it; this script only checks. Exits non-zero if anything is left behind.
set -euo pipefail

BINARY=${1:-./ci-wrap}
IMAGE=ci-wrap-test/busybox:latest

say() { printf '\n== %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

[[ -x $BINARY ]] || die "$BINARY is not an executable (run 'make' first)"
BINARY=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")

# The checks talk to the real daemon, the same one ci-wrap picks by default.
if [[ ${DOCKER_HOST:-} != unix://* ]]; then
	export DOCKER_HOST=unix:///var/run/docker.sock
fi
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
docker image inspect "$IMAGE" >/dev/null 2>&1 ||
	die "image $IMAGE missing (run 'make setup' or scripts/setup.sh)"

work=$(mktemp -d /tmp/ci-wrap-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'FROM %s\nRUN echo built by the demo >/built.txt\n' "$IMAGE" >"$work/Dockerfile"

# The job. It talks to $DOCKER_HOST, which ci-wrap points at its proxy.
# shellcheck disable=SC2016 # expanded by the job's shell, inside ci-wrap
JOB='
set -e
s=$CI_WRAP_SESSION
tag=ci-wrap-demo:${s,,}
echo "$s" >"$DEMO_DIR/session"
echo "${DOCKER_HOST#unix://}" >"$DEMO_DIR/socket"
echo "job: DOCKER_HOST=$DOCKER_HOST"
echo "job: CI_WRAP_SESSION=$s CI_WRAP_CGROUP=$CI_WRAP_CGROUP"
echo "job: my own memory cgroup: $(grep -m1 memory /proc/self/cgroup || grep -m1 "^0::" /proc/self/cgroup)"

docker network create "demo-net-$s" >/dev/null
docker volume create "demo-vol-$s" >/dev/null
# A service the job "forgets" to stop. It exits on SIGTERM, so the
# teardown does not have to wait out --grace before SIGKILL.
docker run -d --name "demo-db-$s" --network "demo-net-$s" -v "demo-vol-$s:/data" \
	"$IMAGE" sh -c "trap \"exit 0\" TERM; sleep 600 & wait" >/dev/null
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$DEMO_DIR" >"$DEMO_DIR/build.log" 2>&1 ||
	{ cat "$DEMO_DIR/build.log" >&2; exit 1; }
echo "job: started container demo-db-$s, network demo-net-$s, volume demo-vol-$s, built image $tag"

echo "job: a container from the image built through the proxy:"
docker run --rm "$tag" sh -c "cat /built.txt; grep -m1 memory /proc/self/cgroup || grep -m1 \"^0::\" /proc/self/cgroup"
echo "job: its labels:"
docker image inspect --format "{{json .Config.Labels}}" "$tag"
echo "job: the labels of demo-db-$s:"
docker inspect --format "{{json .Config.Labels}}" "demo-db-$s"
echo "job: everything labelled with this session:"
{
	docker ps -a --filter "label=ci-wrap.session=$s" --format "container {{.Names}} ({{.Status}})"
	docker network ls --filter "label=ci-wrap.session=$s" --format "network {{.Name}}"
	docker volume ls --filter "label=ci-wrap.session=$s" --format "volume {{.Name}}"
	docker images --filter "label=ci-wrap.session=$s" --format "image {{.Repository}}:{{.Tag}}"
} | sed "s/^/  /"
echo "job: exiting with status 3, leaving all of that behind"
exit 3
'

say "running the job: $BINARY --memory 256m -- bash -c '...'"
set +e
DEMO_DIR=$work IMAGE=$IMAGE "$BINARY" --memory 256m -- bash -c "$JOB"
rc=$?
set -e

say "ci-wrap exited with status $rc"
[[ -s $work/session ]] || die "the job did not start (ci-wrap exited $rc)"
((rc == 3)) || die "expected the job's status 3, got $rc"
session=$(<"$work/session")
socket=$(<"$work/socket")

say "what is left of session $session"
left=0
check() { # WHAT COMMAND...: COMMAND must print nothing
	local out
	out=$("${@:2}")
	if [[ -n $out ]]; then
		printf '  %-11s LEFT: %s\n' "$1" "$(tr '\n' ' ' <<<"$out")"
		left=1
	else
		printf '  %-11s none\n' "$1"
	fi
}
f="label=ci-wrap.session=$session"
check containers docker ps -aq --filter "$f"
check networks docker network ls -q --filter "$f"
check volumes docker volume ls -q --filter "$f"
check images docker images -aq --filter "$f"
pools() { # the pool in a v2 tree and in every v1 hierarchy
	local d
	for d in /sys/fs/cgroup/ci-wrap/"$session" /sys/fs/cgroup/*/ci-wrap/"$session"; do
		[[ -e $d ]] && printf '%s\n' "$d"
	done
	return 0
}
check cgroups pools
check processes bash -c "grep -l 'CI_WRAP_SESSION=$session' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true"
check socket bash -c "ls -d '$(dirname "$socket")' 2>/dev/null || true"

if ((left)); then
	say "FAILED: the session left something behind"
	exit 1
fi
say "ok: nothing labelled ci-wrap.session=$session remains"
