#!/usr/bin/env bash
# The Debian package: `make deb` builds it from the tree, apt-get installs it
# on this host, the installed ci-wrap, man page and ci-wrap-sh work from
# /usr/bin, the reap timer is enabled, and `apt-get purge` leaves nothing.
# The tests' own ci-wrap is always "$CI_WRAP" (an absolute path), so the
# installed /usr/bin/ci-wrap never stands in for it; it is purged when the
# case ends, pass or fail.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$CIWT_DIR/../.." && pwd)
# Every path the package installs or makes when it is configured.
PKG_PATHS=(
	/usr/bin/ci-wrap /usr/bin/ci-wrap-sh /usr/share/man/man1/ci-wrap.1.gz
	/usr/share/man/man1/ci-wrap-sh.1.gz /usr/share/doc/ci-wrap /etc/ci-wrap.conf
	/lib/systemd/system/ci-wrap-reap.service /lib/systemd/system/ci-wrap-reap.timer
	/etc/systemd/system/timers.target.wants/ci-wrap-reap.timer
	/var/lib/systemd/deb-systemd-helper-enabled/ci-wrap-reap.timer.dsh-also
	/var/lib/systemd/deb-systemd-helper-enabled/timers.target.wants/ci-wrap-reap.timer
)

# apt and dpkg wait for a lock another apt on this host (another test run,
# setup) holds, rather than fail at once.
apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 -y -q "$@"
}

purge_ours() {
	dpkg -s ci-wrap >/dev/null 2>&1 || return 0
	apt_get purge ci-wrap >>"$WORK/purge.log" 2>&1
}

left_over() {
	local p
	for p in "${PKG_PATHS[@]}"; do
		[[ -e $p || -L $p ]] && printf '%s ' "$p"
	done
	dpkg -s ci-wrap >/dev/null 2>&1 && printf 'dpkg status entry '
	return 0
}

t_build_install_purge() {
	[[ $(id -u) == 0 ]] || skip "installing a package needs root"
	for t in dpkg-buildpackage dh apt-get lintian man; do
		command -v "$t" >/dev/null || fail "$t not found (scripts/setup.sh installs it)"
	done
	dpkg -s ci-wrap >/dev/null 2>&1 && skip "a ci-wrap package is installed on this host already: not ours to purge"
	[[ -e /etc/ci-wrap.conf ]] && skip "this host has an /etc/ci-wrap.conf of its own, which the package's conffile would take over"
	on_cleanup purge_ours

	local deb want_version commit out
	(cd "$ROOT" && make -s deb DEB_OUT="$WORK/deb") >"$WORK/build.log" 2>&1 ||
		fail "make deb failed: $(tail -n 5 "$WORK/build.log" | tr '\n' '|')"
	deb=$(tail -n 1 "$WORK/build.log")
	want_version=$(sed -n '1s/^ci-wrap (\([^)]*\)).*/\1/p' "$ROOT/debian/changelog")
	assert_eq "the .deb's name (version from debian/changelog)" "$WORK/deb/ci-wrap_${want_version}_amd64.deb" "$deb"
	lintian "$deb" >"$WORK/lintian" 2>&1
	grep -q '^E: ' "$WORK/lintian" && fail "lintian errors: $(grep '^E: ' "$WORK/lintian" | tr '\n' '|')"
	dpkg-deb -f "$deb" Depends | grep -q 'libcurl4' || fail "libcurl4 (dlopen()ed) is not in Depends"

	apt_get install --no-install-recommends "$deb" >"$WORK/install.log" 2>&1 ||
		fail "apt-get install failed: $(tail -n 5 "$WORK/install.log" | tr '\n' '|')"
	commit=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null)
	out=$(/usr/bin/ci-wrap --version)
	assert_eq "installed ci-wrap --version" "ci-wrap $want_version (commit $commit)" "$out"
	out=$(MANPAGER=cat MANWIDTH=80 man ci-wrap 2>&1 | head -n 20)
	[[ $out == *ci-wrap* && $out == *NAME* ]] || fail "man ci-wrap shows no page: $(head -c 200 <<<"$out")"
	# ci-wrap-sh runs the ci-wrap installed next to it, which runs the shell.
	out=$(cd / && /usr/bin/ci-wrap-sh -c 'readlink /proc/$PPID/exe' 2>"$WORK/sh.err")
	assert_eq "the ci-wrap that /usr/bin/ci-wrap-sh ran" /usr/bin/ci-wrap "$out"
	/usr/bin/ci-wrap-sh -c true 2>>"$WORK/sh.err" || fail "/usr/bin/ci-wrap-sh -c true failed: $(tr '\n' '|' <"$WORK/sh.err")"
	/usr/bin/ci-wrap ls --json >/dev/null || fail "installed ci-wrap ls failed"
	grep -q '^ExecStart=/usr/bin/ci-wrap reap$' /lib/systemd/system/ci-wrap-reap.service ||
		fail "ci-wrap-reap.service does not run /usr/bin/ci-wrap reap"
	[[ -L /etc/systemd/system/timers.target.wants/ci-wrap-reap.timer ]] ||
		fail "ci-wrap-reap.timer is not enabled after the install"
	dpkg-query -W -f='${Conffiles}\n' ci-wrap | grep -q '/etc/ci-wrap.conf' ||
		fail "/etc/ci-wrap.conf is not a conffile"
	grep -v '^#' /etc/ci-wrap.conf | grep -q '[^[:space:]]' && fail "the example /etc/ci-wrap.conf sets something"

	apt_get purge ci-wrap >"$WORK/purge.log" 2>&1 || fail "apt-get purge failed: $(tail -n 5 "$WORK/purge.log" | tr '\n' '|')"
	out=$(left_over)
	[[ -z $out ]] || fail "left after apt-get purge: $out"
}

tcase build-install-purge 300 t_build_install_purge
