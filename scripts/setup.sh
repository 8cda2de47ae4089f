#!/usr/bin/env bash
# Prepare a Debian 12 host (as root) for building and testing ci-wrap:
# build/test packages (qemu and debootstrap for the VM stage, tests/vm), a running dockerd on /var/run/docker.sock, and the local
# test image ci-wrap-test/busybox:latest (nothing can be pulled: no registry).
# Idempotent: prints one line per action taken; a second run does nothing.
set -euo pipefail

PACKAGES=(
	gcc make pkg-config libev-dev libjansson-dev libcurl4-openssl-dev zlib1g-dev
	libcgroup-dev node-llhttp libcmocka-dev docker.io busybox-static socat
	haproxy python3-docker docker-compose clang libclang-rt-14-dev jq curl
	procps iproute2 util-linux cgroup-tools libsystemd-dev
	prometheus debhelper dpkg-dev fakeroot lintian man-db
	qemu-system-x86 debootstrap e2fsprogs
)
DOCKER_SOCK=/var/run/docker.sock
DOCKERD_LOG=/var/log/ci-wrap-dockerd.log
DOCKERD_PID=/run/ci-wrap-dockerd.pid
DOCKERD_WAIT=60
TEST_IMAGE=ci-wrap-test/busybox:latest
# dockerode for tests/integration/80-clients.sh, from the npm registry, in a
# cache outside the repository (the test reads the same variable).
NODE_DIR=${CIWT_NODE_DIR:-/var/cache/ci-wrap-test/node}
DOCKERODE=dockerode@5

say() { printf 'setup: %s\n' "$*"; }
die() {
	printf 'setup: error: %s\n' "$*" >&2
	exit 1
}

# Talk to the default daemon whatever the caller's environment selects.
docker_local() {
	env -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
		DOCKER_HOST="unix://$DOCKER_SOCK" docker "$@"
}

daemon_answers() {
	timeout 5 env -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
		DOCKER_HOST="unix://$DOCKER_SOCK" \
		docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# Install the named Debian packages (none: nothing to do).
apt_install() {
	(($# == 0)) && return 0
	[[ $(id -u) == 0 ]] || die "missing packages ($*) and not root"
	say "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_packages() {
	local missing=() pkg status
	declare -A installed=()
	# dpkg-query exits 1 when one of the names is unknown to dpkg; the names it
	# does know are still printed.
	while IFS=$'\t' read -r pkg status; do
		[[ $status == ii* ]] && installed[$pkg]=1
	done < <(dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
	for pkg in "${PACKAGES[@]}"; do
		[[ -n ${installed[$pkg]:-} ]] || missing+=("$pkg")
	done
	apt_install "${missing[@]}"
}

start_dockerd() {
	daemon_answers && return 0

	local pid=""
	[[ -r $DOCKERD_PID ]] && pid=$(<"$DOCKERD_PID")
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		say "waiting for dockerd (pid $pid) to answer"
	elif pid=$(pgrep -xo dockerd); then
		# Someone else's daemon (systemd, an earlier manual start) is starting up
		# or wedged: never start a second one on the same data root.
		say "waiting for the running dockerd (pid $pid) to answer"
	else
		command -v dockerd >/dev/null || die "dockerd not found"
		say "starting dockerd (log $DOCKERD_LOG)"
		# Debian's dockerd starts a managed containerd of its own when no
		# /run/containerd/containerd.sock answers.
		nohup dockerd --pidfile "$DOCKERD_PID" >>"$DOCKERD_LOG" 2>&1 </dev/null &
		pid=$!
	fi

	local deadline=$((SECONDS + DOCKERD_WAIT))
	until daemon_answers; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
			die "dockerd (pid $pid) exited without answering on $DOCKER_SOCK"
		fi
		((SECONDS < deadline)) || die "dockerd did not answer on $DOCKER_SOCK within ${DOCKERD_WAIT}s"
		sleep 0.5
	done
	say "dockerd answers on $DOCKER_SOCK"
	docker_local info --format '{{.ContainerdCommit.ID}}' >/dev/null ||
		die "dockerd answers but reports no containerd"
}

make_test_image() {
	docker_local image inspect "$TEST_IMAGE" >/dev/null 2>&1 && return 0

	local busybox=/bin/busybox dir applet
	[[ -x $busybox ]] || die "$busybox missing (package busybox-static)"
	# Only a static busybox works alone in an empty rootfs.
	if ldd "$busybox" >/dev/null 2>&1; then
		die "$busybox is dynamically linked; need busybox-static"
	fi
	say "building image $TEST_IMAGE"
	dir=$(mktemp -d /tmp/ci-wrap-setup.XXXXXX)
	# shellcheck disable=SC2064 # expand now: dir is local
	trap "rm -rf '$dir'" EXIT
	mkdir -p "$dir"/root/{bin,tmp,etc,proc,sys,dev}
	chmod 1777 "$dir/root/tmp"
	cp "$busybox" "$dir/root/bin/busybox"
	while read -r applet; do
		# A link named busybox would replace the binary with a self-link.
		[[ -z $applet || $applet == busybox ]] && continue
		ln -sf busybox "$dir/root/bin/$applet"
	done < <("$busybox" --list)
	tar -C "$dir/root" --numeric-owner --owner=0 --group=0 -c . |
		docker_local import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$TEST_IMAGE" >/dev/null
	docker_local run --rm --label ci-wrap-test=1 "$TEST_IMAGE" sh -c 'echo ok' | grep -qx ok ||
		die "image $TEST_IMAGE does not run"
	rm -rf "$dir"
	trap - EXIT
}

# nodejs and npm from Debian, unless node and npm are already there: Debian's
# npm package conflicts with other nodejs builds (NodeSource's includes npm).
install_node() {
	local missing=()
	command -v node >/dev/null || missing+=(nodejs)
	command -v npm >/dev/null || missing+=(npm)
	apt_install "${missing[@]}"
}

dockerode_loads() {
	NODE_PATH=$NODE_DIR/node_modules node -e 'require("dockerode")' >/dev/null 2>&1
}

# Not fatal: without the npm registry the dockerode test is skipped.
install_dockerode() {
	dockerode_loads && return 0

	say "installing $DOCKERODE into $NODE_DIR (npm)"
	mkdir -p "$NODE_DIR"
	if ! timeout 300 npm install --prefix "$NODE_DIR" --no-audit --no-fund --no-update-notifier \
		--fetch-retries=1 --fetch-retry-maxtimeout=10000 --loglevel=error "$DOCKERODE" \
		>"$NODE_DIR/npm-install.log" 2>&1 || ! dockerode_loads; then
		printf 'setup: warning: could not install %s (npm registry unreachable? see %s); the dockerode client test will be skipped\n' \
			"$DOCKERODE" "$NODE_DIR/npm-install.log" >&2
	fi
}

install_packages
install_node
start_dockerd
make_test_image
install_dockerode
say ok
