#!/bin/bash
# Inside the VM (started by ci-wrap-vm.service, tests/vm/build-image.sh): run
# the guest tests once for each docker cgroup driver and write the TAP lines,
# between the markers tests/vm/run.sh looks for, to RESULTS (the second serial
# port). Everything else goes to the console (ttyS0), which run.sh keeps as a
# log when something fails.
#
#   entry.sh RESULTS
#   entry.sh --prepare [DRIVER]   (developer shell: wait for dockerd, import the
#                                  test image, switch docker to DRIVER; no tests)
set -uo pipefail

prepare=0 prepare_driver=""
if [[ ${1:-} == --prepare ]]; then
	prepare=1 prepare_driver=${2:-}
	set -- /dev/null
fi
res=${1:-/dev/ttyS1}
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMG=ci-wrap-test/busybox:latest
CIWRAP_VM_TESTS="" CIWRAP_VM_DRIVERS="systemd cgroupfs" CIWRAP_VM_DEB=""
# shellcheck source=/dev/null # written by run.sh
[[ -r $dir/config ]] && . "$dir/config"

exec 3>"$res"
say() { # a line for the results and the console
	printf '%s\n' "$*" >&3
	printf '%s\n' "$*"
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

docker_answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
wait_docker() { # SECONDS
	local deadline=$((SECONDS + $1))
	until docker_answers; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}

# The test image, as scripts/setup.sh makes it on the host: a static busybox
# alone in a rootfs, imported (nothing can be pulled: no network).
make_test_image() {
	local tmp
	docker image inspect "$IMG" >/dev/null 2>&1 && return 0
	tmp=$(mktemp -d)
	mkdir -p "$tmp"/root/{bin,tmp,etc,proc,sys,dev,usr}
	chmod 1777 "$tmp/root/tmp"
	cp /bin/busybox "$tmp/root/bin/busybox"
	# One process, not a fork per applet (seconds under TCG). The links name
	# the binary the way /proc/self/exe does, /usr/bin/busybox here (merged
	# /usr): usr/bin leads to bin in the image.
	ln -s ../bin "$tmp/root/usr/bin"
	/bin/busybox --install -s "$tmp/root/bin"
	tar -C "$tmp/root" --numeric-owner --owner=0 --group=0 -c . |
		docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$IMG" >/dev/null
	rm -rf "$tmp"
	docker run --rm "$IMG" sh -c 'echo ok' | grep -qx ok
}

# Docker's configuration for DRIVER: systemd is Debian's default on cgroup v2
# (no daemon.json at all); cgroupfs is asked for in daemon.json.
configure_docker() { # DRIVER
	case $1 in
	systemd) rm -f /etc/docker/daemon.json ;;
	cgroupfs)
		mkdir -p /etc/docker
		echo '{"exec-opts":["native.cgroupdriver=cgroupfs"]}' >/etc/docker/daemon.json
		;;
	*) return 1 ;;
	esac
	systemctl restart docker.service && wait_docker 90
}

if ((prepare)); then
	exec 3>&1
	wait_docker 120 || { echo "dockerd does not answer"; exit 1; }
	make_test_image || { echo "could not import $IMG"; exit 1; }
	if [[ -n $prepare_driver ]]; then
		configure_docker "$prepare_driver" || { echo "dockerd did not come back"; exit 1; }
	fi
	echo "ready: $IMG; docker $(docker info --format '{{.CgroupDriver}} driver, cgroup v{{.CgroupVersion}}')"
	exit 0
fi

say "=== ci-wrap-vm begin"
say "# guest: kernel $(uname -r); $(systemctl --version | head -n 1);" \
	"$(dockerd --version 2>/dev/null); /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup);" \
	"$(nproc) cpus; $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB; up $(uptime_s) s"

# Where the boot's time went (systemd-analyze waits for the boot to finish,
# which includes this unit).
mono_s() { # UNIT: when it became active, in seconds since boot
	local us
	us=$(systemctl show "$1" -p ActiveEnterTimestampMonotonic --value 2>/dev/null)
	awk -v us="${us:-0}" 'BEGIN { printf "%.1f", us / 1e6 }'
}
say "# guest: active at (s): sysinit.target $(mono_s sysinit.target), containerd $(mono_s containerd.service), docker $(mono_s docker.service)"

# With a package (run.sh --deb, as make check does), the tests run the ci-wrap
# it installs, which must be the build under test: the package is what gets
# tested on a current host.
ci_wrap=$dir/ci-wrap
install_package() {
	local want got
	[[ -n $CIWRAP_VM_DEB ]] || return 0
	if ! dpkg -i "$dir/$CIWRAP_VM_DEB" >/tmp/dpkg.log 2>&1; then
		say "not ok - vm/package: dpkg -i $CIWRAP_VM_DEB failed: $(tail -n 3 /tmp/dpkg.log | tr '\n' '|')"
		return 1
	fi
	want=$("$dir/ci-wrap" --version) got=$(/usr/bin/ci-wrap --version)
	if [[ $got != "$want" ]]; then
		say "not ok - vm/package: the package's ci-wrap says '$got', the build under test '$want'"
		return 1
	fi
	systemctl is-enabled ci-wrap-reap.timer >/dev/null 2>&1 || {
		say "not ok - vm/package: ci-wrap-reap.timer is not enabled after the install"
		return 1
	}
	ci_wrap=/usr/bin/ci-wrap
	say "ok - vm/package: $CIWRAP_VM_DEB installed with dpkg -i, $got, ci-wrap-reap.timer enabled"
}

if ! wait_docker 120; then
	say "not ok - vm/boot: dockerd does not answer 120 s after the tests started ($(systemctl is-active docker.service))"
	journalctl -u docker.service --no-pager | tail -n 30
elif ! make_test_image; then
	say "not ok - vm/boot: could not import the test image $IMG"
elif ! install_package; then
	: # said why
else
	say "# guest: docker answers, test image ready, up $(uptime_s) s"
	for driver in $CIWRAP_VM_DRIVERS; do
		t=$SECONDS
		if ! configure_docker "$driver"; then
			say "not ok - vm/$driver/daemon: dockerd did not come back with the $driver driver"
			journalctl -u docker.service --no-pager | tail -n 30
			continue
		fi
		got=$(docker info --format '{{.CgroupDriver}} {{.CgroupVersion}}' 2>&1)
		if [[ $got != "$driver 2" ]]; then
			say "not ok - vm/$driver/daemon: docker info says '$got', expected '$driver 2'"
			continue
		fi
		say "ok - vm/$driver/daemon"
		if [[ -x $dir/bench/timeit ]]; then
			bash "$dir/bench/vm-startup.sh" "$dir/bench/timeit" "$dir/ci-wrap" "$driver" 30 |
				sed 's/^/# bench: /' >&3
			continue
		fi
		CI_WRAP=$ci_wrap VM_DRIVER=$driver VM_FILTER=$CIWRAP_VM_TESTS IMG=$IMG \
			bash "$dir/guest/pool.sh"
		say "# guest: $driver driver: $((SECONDS - t)) s"
	done
fi
say "# guest: done, up $(uptime_s) s"
say "=== ci-wrap-vm end"
exec 3>&-
