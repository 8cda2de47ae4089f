#!/usr/bin/env bash
# A CI step that needs a service container, as a plain script: an HTTP
# server on a private network, and a test that talks to it. The script never
# cleans up after itself; ci-wrap does, whether the test passes, fails, or
# the step is killed.
#
#   examples/shell/ci-step.sh            (ci-wrap from PATH)
#   CI_WRAP=./ci-wrap examples/shell/ci-step.sh
#
# Exits with the test's status. Uses the image ci-wrap-test/busybox from
# `make setup`; set IMAGE to use another image with busybox's httpd and wget.
set -euo pipefail

IMAGE=${IMAGE:-ci-wrap-test/busybox:latest}
export IMAGE

# Outside a session: run this same script again as ci-wrap's command. (Inside
# one already, e.g. after GitLab's `eval "$(ci-wrap start)"`, just go on.)
if [[ -z ${CI_WRAP_SESSION:-} ]]; then
	exec "${CI_WRAP:-ci-wrap}" --memory 1g --grace 2s -- "$0" "$@"
fi

# Inside: DOCKER_HOST is ci-wrap's proxy, so everything below is labelled
# ci-wrap.session=$CI_WRAP_SESSION and runs in the session's cgroup pool.
net=ci-step-$CI_WRAP_SESSION
echo "ci-step: session $CI_WRAP_SESSION, pool ${CI_WRAP_CGROUP:-none}"

docker network create "$net" >/dev/null
docker run -d --network "$net" --network-alias web "$IMAGE" \
	sh -c 'mkdir -p /www && echo "hello from the service" >/www/index.html &&
	       exec httpd -f -p 8080 -h /www' >/dev/null

# The "test": fetch the page from a second container, waiting for the server.
docker run --rm --network "$net" "$IMAGE" sh -c '
	for i in $(seq 50); do
		wget -q -O - http://web:8080/ && exit 0
		sleep 0.2
	done
	echo "ci-step: the service never answered" >&2
	exit 1'
