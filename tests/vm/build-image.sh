#!/usr/bin/env bash
# Build, once, the Debian 12 disk image the VM stage boots (tests/vm/run.sh):
# debootstrap from the mirror this machine's apt uses, systemd as init,
# docker.io in its default configuration, the libraries ci-wrap links, and a
# oneshot unit that runs the tests from the second disk and powers off.
#
#   tests/vm/build-image.sh [--rebuild]
#
# The image is cached in $CIWRAP_VM_CACHE (default /var/cache/ci-wrap-test/vm)
# under a key that hashes this script (which holds the package list and every
# file written into the image) and the mirror: a change to either builds a new
# one. The build happens in a temporary directory renamed into place, so an
# interrupted build leaves nothing that looks finished. Prints the directory
# (rootfs.ext4, vmlinuz, initrd.img, info) on its last line of stdout.
set -euo pipefail

CACHE=${CIWRAP_VM_CACHE:-/var/cache/ci-wrap-test/vm}
SUITE=bookworm
# systemd as init and dbus (the systemd manager talks to it); docker.io; apparmor
# (Debian's kernel enables AppArmor, and without apparmor_parser every `docker
# run` fails: docker.io only recommends it); udev (device units for the disks);
# the tests' tools; the kernel; what ci-wrap links (ldd ./ci-wrap) and
# libcurl4, which it dlopen()s at teardown.
PACKAGES=(
	systemd systemd-sysv dbus udev docker.io apparmor busybox-static jq procps
	psmisc kmod linux-image-amd64 libev4 libjansson4 libcgroup2 libsystemd0
	libcurl4
)
# Kernel module directories the guest never loads (no hardware but virtio).
DROP_MODULES=(
	drivers/gpu drivers/media drivers/infiniband drivers/staging drivers/iio
	drivers/usb drivers/hid drivers/input drivers/bluetooth drivers/net/wireless
	drivers/net/ethernet drivers/isdn drivers/mtd drivers/scsi drivers/ata
	drivers/hwmon drivers/platform drivers/video drivers/nfc drivers/thunderbolt
	drivers/mmc drivers/leds drivers/power drivers/edac drivers/misc
	drivers/target drivers/nvme drivers/md drivers/firewire drivers/pcmcia
	drivers/w1 drivers/i2c drivers/spi drivers/gnss drivers/fpga drivers/net/can
	drivers/net/usb drivers/net/ieee802154 drivers/net/wwan drivers/atm
	sound net/bluetooth net/wireless net/mac80211 net/nfc net/can net/ieee802154
	fs/nfs fs/nfsd fs/ceph fs/smb fs/ocfs2 fs/gfs2 fs/btrfs fs/xfs fs/f2fs
	fs/ubifs fs/cifs fs/dlm fs/jfs fs/nilfs2 fs/reiserfs
)

say() { printf 'build-image: %s\n' "$*" >&2; }
die() {
	printf 'build-image: error: %s\n' "$*" >&2
	exit 1
}

rebuild=0
for arg in "$@"; do
	case $arg in
	--rebuild) rebuild=1 ;;
	*) die "unknown argument '$arg' (usage: $0 [--rebuild])" ;;
	esac
done

# The Debian mirror of this machine's apt: the first deb822 URIs line, or the
# first one-line "deb URL SUITE" entry, that serves $SUITE itself (not
# -security or -updates).
find_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk -v suite="$SUITE" '
			/^[ \t]*$/ { if (uri != "" && hit) { print uri; exit } uri = ""; hit = 0; next }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
			END { if (uri != "" && hit) print uri }
		' "$f" | head -n 1
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk -v suite="$SUITE" '$1 == "deb" {
			i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == suite) { print $i; exit } }' "$f"
	done
}

mirror=$(find_mirror | head -n 1)
[[ -n $mirror ]] || die "no apt source for $SUITE in /etc/apt/sources.list{,.d}"
key=$({
	cat "${BASH_SOURCE[0]}"
	echo "$mirror $SUITE"
} | sha256sum | cut -c 1-16)
dir=$CACHE/$key


if [[ -s $dir/info && $rebuild == 0 ]]; then
	say "cached image $dir"
	echo "$dir"
	exit 0
fi

[[ $(id -u) == 0 ]] || die "must run as root (debootstrap, chroot)"
for t in debootstrap mkfs.ext4 flock; do
	command -v "$t" >/dev/null || die "$t not found (scripts/setup.sh installs it)"
done

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
	say "waiting for another build (lock $CACHE/.lock)"
	flock 9
fi
if [[ -s $dir/info && $rebuild == 0 ]]; then
	say "cached image $dir (built meanwhile)"
	echo "$dir"
	exit 0
fi

t0=$SECONDS
tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
root=$tmp/rootfs
cleanup() {
	local m
	# Whatever the chroot steps left mounted, innermost first.
	awk -v r="$root" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

say "debootstrap $SUITE from $mirror into $root (minutes)"
include=$(
	IFS=,
	echo "${PACKAGES[*]}"
)
if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$mirror" \
	>"$tmp/debootstrap.log" 2>&1; then
	tail -n 30 "$tmp/debootstrap.log" >&2
	[[ -f $root/debootstrap/debootstrap.log ]] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
	die "debootstrap failed"
fi
t_boot=$SECONDS
say "debootstrap done in $((t_boot - t0)) s"

# --- configuration -----------------------------------------------------------

echo ci-wrap-vm >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	ci-wrap-vm
::1		localhost ip6-localhost ip6-loopback
EOF
cat >"$root/etc/fstab" <<'EOF'
# The root is /dev/vda, opened by qemu with -snapshot: writes never reach the
# cached image. No fsck: the image is made fresh by mkfs.ext4.
/dev/vda	/	ext4	rw,noatime	0	0
EOF
# Root without a password, and logged in at once on the serial console (the
# developer shell of run.sh --shell).
chroot "$root" passwd -d root >/dev/null
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
EOF
mkdir -p "$root/etc/systemd/journald.conf.d"
cat >"$root/etc/systemd/journald.conf.d/volatile.conf" <<'EOF'
[Journal]
Storage=volatile
EOF
# Debian's docker.io ships no daemon.json: its default on cgroup v2 is the
# systemd cgroup driver. The guest entry script writes one for the cgroupfs run.
rm -f "$root/etc/docker/daemon.json"

# The entry point: mount the second disk (the tests and the binary), then run
# its entry script (ciwrap.mode=test) or just mount things for a developer
# (ciwrap.mode=shell). In test mode the guest powers off whatever happens.
cat >"$root/usr/local/sbin/ci-wrap-vm-boot" <<'EOF'
#!/bin/bash
# Started by ci-wrap-vm.service after docker.service (tests/vm/build-image.sh).
mode=test
for w in $(cat /proc/cmdline); do
	case $w in ciwrap.mode=*) mode=${w#ciwrap.mode=} ;; esac
done
res=/dev/ttyS1
[[ -c $res ]] || res=/dev/ttyS0
stty -F "$res" raw -echo 2>/dev/null
mkdir -p /mnt/ci-wrap
for _ in $(seq 50); do [[ -b /dev/vdb ]] && break; sleep 0.2; done
mounted=0
mount -o ro /dev/vdb /mnt/ci-wrap && mounted=1
if [[ $mode == shell ]]; then
	mkdir -p /mnt/host
	modprobe 9pnet_virtio 2>/dev/null
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host 2>/dev/null ||
		echo "ci-wrap-vm: no 9p share 'host' (run.sh --shell --share DIR)" >/dev/ttyS0
	echo "ci-wrap-vm: shell mode: tests in /mnt/ci-wrap, host directory in /mnt/host" >/dev/ttyS0
	exit 0
fi
if ((mounted)) && [[ -x /mnt/ci-wrap/guest/entry.sh ]]; then
	/mnt/ci-wrap/guest/entry.sh "$res"
else
	{
		echo "=== ci-wrap-vm begin"
		echo "not ok - vm/boot: second disk /dev/vdb not mounted or no guest/entry.sh"
		echo "=== ci-wrap-vm end"
	} >"$res"
fi
sync
systemctl poweroff --force --no-block
EOF
chmod 0755 "$root/usr/local/sbin/ci-wrap-vm-boot"
cat >"$root/etc/systemd/system/ci-wrap-vm.service" <<'EOF'
[Unit]
Description=ci-wrap VM tests (tests/vm)
Wants=docker.service
After=docker.service
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ci-wrap-vm-boot
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/ci-wrap-vm.service \
	"$root/etc/systemd/system/multi-user.target.wants/ci-wrap-vm.service"
# Nothing waits for a network that is not there.
for u in systemd-networkd-wait-online.service networking.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done

# --- size --------------------------------------------------------------------

kver=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
[[ -f $root/boot/vmlinuz-$kver && -f $root/boot/initrd.img-$kver ]] ||
	die "no kernel or initrd for $kver in $root/boot"
cp "$root/boot/vmlinuz-$kver" "$tmp/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$tmp/initrd.img"
for m in "${DROP_MODULES[@]}"; do
	rm -rf "$root/lib/modules/$kver/kernel/$m"
done
chroot "$root" depmod -a "$kver"
rm -f "$root/boot/vmlinuz-"* "$root/boot/initrd.img-"*
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
	"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
[[ -x $root/bin/busybox && -x $root/usr/sbin/apparmor_parser && -x $root/usr/sbin/dockerd ]] ||
	die "busybox, apparmor_parser or dockerd missing from the rootfs"

used=$(du -sxm "$root" | cut -f1)
# Room for docker's images and containers and the tests' files (writes go to
# qemu's snapshot overlay, not to this file).
size=$((used + used / 4 + 768))
say "rootfs ${used} MB; mkfs.ext4 -d into ${size} MB"
t_mkfs=$SECONDS
mkfs.ext4 -q -F -L ci-wrap-vm -d "$root" "$tmp/rootfs.ext4" "${size}M"
say "mkfs done in $((SECONDS - t_mkfs)) s"

# shellcheck disable=SC2016 # ${Version} is dpkg-query's, not the shell's
{
	echo "suite=$SUITE"
	echo "mirror=$mirror"
	echo "kernel=$kver"
	echo "systemd=$(chroot "$root" dpkg-query -W -f='${Version}' systemd)"
	echo "docker=$(chroot "$root" dpkg-query -W -f='${Version}' docker.io)"
	echo "rootfs_mb=$used"
	echo "build_s=$((SECONDS - t0))"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$tmp/info"
rm -rf "$root" "$tmp/debootstrap.log"
chmod 0755 "$tmp"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
# Earlier keys' images are of no more use.
for old in "$CACHE"/*/; do
	old=${old%/}
	[[ $old == "$dir" ]] || rm -rf "$old"
done
say "image $dir built in $((SECONDS - t0)) s (kernel $kver)"
echo "$dir"
