#!/usr/bin/env bash
# The VM stage: boot the Debian 12 image of build-image.sh with qemu, run the
# guest tests (tests/vm/guest/) against BINARY for docker's systemd and
# cgroupfs drivers, and print their TAP lines and "N passed, N failed".
#
#   tests/vm/run.sh [BINARY]                       the stage (make check-vm)
#   tests/vm/run.sh --shell [--share DIR] [BINARY] a developer VM on this terminal
#
# Test mode: no network device; the root image opened with snapshot=on (the
# cached image is never written); the binary and the tests on a second virtio
# disk; the guest's console on ttyS0 goes to a log file, its results on ttyS1
# between "=== ci-wrap-vm begin" and "=== ci-wrap-vm end". A guest that runs
# past CIWRAP_VM_TIMEOUT seconds (default 1200) is killed and fails the stage,
# as does a missing marker and a qemu that cannot run at all.
# Environment: CIWRAP_VM_TIMEOUT, CIWRAP_VM_MEM (MiB, default 3072),
# CIWRAP_VM_ACCEL (kvm or tcg; default kvm where /dev/kvm works),
# CIWRAP_VM_LOG (keep the guest console log there), CIWRAP_VM_TESTS (words:
# run only guest cases whose "driver/case" name contains one),
# CIWRAP_VM_DEB (a ci-wrap .deb built from the same tree: the guest installs
# it and tests the ci-wrap it installed, as make check does),
# CIWRAP_VM_DRIVERS (default "systemd cgroupfs"), CIWRAP_VM_BENCH=1 (run
# bench/vm-startup.sh, the pool's cost per manager, instead of the tests).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
TIMEOUT=${CIWRAP_VM_TIMEOUT:-1200}
MEM=${CIWRAP_VM_MEM:-3072}
BEGIN='=== ci-wrap-vm begin'
END='=== ci-wrap-vm end'

shell=0 share=""
while (($#)); do
	case $1 in
	--shell) shell=1 ;;
	--share)
		share=$2
		shift
		;;
	--help)
		sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "run.sh: unknown option '$1'" >&2
		exit 2
		;;
	*) break ;;
	esac
	shift
done
bin=${1:-$root/ci-wrap}

passed=0 failed=0
result() { # "ok"|"not ok" NAME [REASON]
	printf '%s - %s%s\n' "$1" "$2" "${3:+: $3}"
	if [[ $1 == ok ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
finish() {
	local t line=""
	for t in "${timing[@]}"; do line+="${line:+, }$t"; done
	echo "# vm: timings: ${line:-none}"
	echo "$passed passed, $failed failed"
	((failed == 0))
	exit
}
timing=()

# --- the machine ---------------------------------------------------------------

qemu=$(command -v qemu-system-x86_64) || {
	result "not ok" vm/qemu "qemu-system-x86_64 not found (scripts/setup.sh installs qemu-system-x86): the VM stage cannot run"
	finish
}
[[ -x $bin && ! -d $bin ]] || {
	result "not ok" vm/binary "ci-wrap binary '$bin' not found or not executable (run make)"
	finish
}
bin=$(realpath "$bin")

work=$(mktemp -d /tmp/ci-wrap-vm.XXXXXX)
qpid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	[[ -n $qpid ]] && kill -KILL "$qpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

t0=$SECONDS
image=$("$here/build-image.sh" | tail -n 1)
if [[ -z $image || ! -s $image/info ]]; then
	result "not ok" vm/image "tests/vm/build-image.sh failed (its output is above)"
	finish
fi
timing+=("image $((SECONDS - t0)) s")
echo "# vm: image $image ($(tr '\n' ' ' <"$image/info"))"

# The -cpu model under which KVM boots this kernel as far as its first
# message (with no root it then panics, and -no-reboot ends qemu). /dev/kvm is
# not enough: in a nested guest qemu may abort ("-cpu host" here: the host
# refuses MSR 0x10a, IA32_ARCH_CAPABILITIES) or the guest hang before its
# first line, as it does on these machines. None: TCG, several times slower.
kvm_cpu() {
	local cpu p i
	[[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]] || return 1
	for cpu in host host,-arch-capabilities; do
		: >"$work/probe"
		"$qemu" -accel kvm -cpu "$cpu" -machine q35 -m 256 -nodefaults -display none -no-reboot \
			-kernel "$image/vmlinuz" -append "console=ttyS0 earlyprintk=serial panic=-1" \
			-serial "file:$work/probe" -nic none </dev/null >/dev/null 2>&1 &
		p=$!
		for ((i = 0; i < 40; i++)); do
			grep -qs 'Linux version' "$work/probe" && break
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		if grep -qs 'Linux version' "$work/probe"; then
			echo "$cpu"
			return 0
		fi
	done
	return 1
}
tk=$SECONDS
accel=${CIWRAP_VM_ACCEL:-}
if [[ -z $accel || $accel == kvm ]] && cpu=$(kvm_cpu); then
	accel=kvm
	accel_args=(-accel kvm -cpu "$cpu")
elif [[ $accel == kvm ]]; then
	result "not ok" vm/qemu "CIWRAP_VM_ACCEL=kvm, but KVM does not boot the guest kernel here"
	finish
elif [[ -z $accel || $accel == tcg ]]; then
	accel=tcg
	accel_args=(-accel "tcg,thread=multi" -cpu max)
else
	result "not ok" vm/qemu "CIWRAP_VM_ACCEL must be kvm or tcg, not '$accel'"
	finish
fi
timing+=("accelerator probe $((SECONDS - tk)) s")

# The second disk: the binary, the guest tests and what selects them.
mkdir -p "$work/disk"
cp "$bin" "$work/disk/ci-wrap"
cp -r "$here/guest" "$work/disk/guest"
if [[ -n ${CIWRAP_VM_DEB:-} ]]; then
	[[ -f $CIWRAP_VM_DEB ]] || {
		result "not ok" vm/package "CIWRAP_VM_DEB=$CIWRAP_VM_DEB: no such package"
		finish
	}
	cp "$CIWRAP_VM_DEB" "$work/disk/"
fi
# CIWRAP_VM_BENCH=1: bench/vm-startup.sh runs in place of the tests.
if [[ ${CIWRAP_VM_BENCH:-} == 1 ]]; then
	mkdir -p "$work/disk/bench"
	cp "$root/bench/vm-startup.sh" "$work/disk/bench/"
	cc -O2 -o "$work/disk/bench/timeit" "$root/bench/timeit.c" || {
		result "not ok" vm/bench "cannot build bench/timeit.c"
		finish
	}
fi
{
	printf 'CIWRAP_VM_TESTS=%q\n' "${CIWRAP_VM_TESTS:-}"
	printf 'CIWRAP_VM_DRIVERS=%q\n' "${CIWRAP_VM_DRIVERS:-systemd cgroupfs}"
	printf 'CIWRAP_VM_DEB=%q\n' "${CIWRAP_VM_DEB:+$(basename "$CIWRAP_VM_DEB")}"
} >"$work/disk/config"
if ! mkfs.ext4 -q -F -L ci-wrap-tests -d "$work/disk" "$work/tests.ext4" 64M >"$work/mkfs.log" 2>&1; then
	result "not ok" vm/disk "mkfs.ext4 of the test disk failed: $(tr '\n' ' ' <"$work/mkfs.log")"
	finish
fi

mode="test"
((shell)) && mode=shell
append="console=ttyS0 root=/dev/vda rw quiet loglevel=3 ciwrap.mode=$mode"
args=(
	"${accel_args[@]}" -machine q35 -smp 2 -m "$MEM" -nodefaults -no-reboot
	-kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$append"
	-drive "file=$image/rootfs.ext4,format=raw,if=virtio,snapshot=on"
	-drive "file=$work/tests.ext4,format=raw,if=virtio,readonly=on"
	-nic none
)

if ((shell)); then
	if [[ -n $share ]]; then
		[[ -d $share ]] || {
			echo "run.sh: --share $share: not a directory" >&2
			exit 2
		}
		args+=(-virtfs "local,path=$(realpath "$share"),mount_tag=host,security_model=none")
	fi
	echo "# vm: $accel; console on this terminal (root, no password); Ctrl-a x quits qemu"
	echo "# vm: the binary and tests are in /mnt/ci-wrap${share:+, $share is /mnt/host}"
	"$qemu" "${args[@]}" -display none -serial mon:stdio -serial null
	exit
fi

# One test VM at a time on this machine (2 cores: two guests under TCG each
# take twice as long, and both may hit their time limit).
lock=$(dirname "$image")/.run.lock
exec 8>"$lock"
if ! flock -n 8; then
	echo "# vm: waiting for another VM run to end (lock $lock)"
	flock 8
fi

console=$work/console.log results=$work/results.log
: >"$results"
echo "# vm: booting ($accel ${accel_args[*]}, -smp 2 -m $MEM, limit ${TIMEOUT}s; console log ${CIWRAP_VM_LOG:-kept only on failure})"
tq=$SECONDS
"$qemu" "${args[@]}" -display none -monitor none \
	-chardev "file,id=con,path=$console" -serial chardev:con \
	-chardev "file,id=res,path=$results" -serial chardev:res \
	</dev/null >"$work/qemu.log" 2>&1 &
qpid=$!

# Print the results as they come: complete lines only, inside the markers.
shown=0 began=0 ended=0 first=""
show_new() {
	local n line
	n=$(wc -l <"$results")
	((n > shown)) || return 0
	while IFS= read -r line; do
		line=${line%$'\r'}
		if [[ $line == "$BEGIN" ]]; then
			began=1
		elif [[ $line == "$END" ]]; then
			ended=1
		elif ((began && !ended)); then
			case $line in
			"ok - "*)
				[[ -n $first ]] || first=$((SECONDS - tq))
				passed=$((passed + 1))
				echo "$line"
				;;
			"not ok - "*)
				[[ -n $first ]] || first=$((SECONDS - tq))
				failed=$((failed + 1))
				echo "$line"
				;;
			*) echo "$line" ;;
			esac
		fi
	done < <(sed -n "$((shown + 1)),${n}p" "$results")
	shown=$n
}

timed_out=0
while kill -0 "$qpid" 2>/dev/null; do
	show_new
	if ((SECONDS - tq >= TIMEOUT)); then
		timed_out=1
		kill -KILL "$qpid" 2>/dev/null
		break
	fi
	sleep 1
done
wait "$qpid"
qrc=$?
qpid=""
show_new
timing+=("boot to first result ${first:-none} s" "guest $((SECONDS - tq)) s")

keep_log=0
if ((timed_out)); then
	result "not ok" vm/guest "killed after ${TIMEOUT}s (CIWRAP_VM_TIMEOUT): the guest hung or is too slow"
	keep_log=1
elif ((!began)); then
	result "not ok" vm/guest "no '$BEGIN' marker: the tests never started (qemu status $qrc: $(head -c 300 "$work/qemu.log" | tr '\n' ' '))"
	keep_log=1
elif ((!ended)); then
	result "not ok" vm/guest "no '$END' marker: the guest stopped in the middle of the tests (qemu status $qrc)"
	keep_log=1
fi
((failed)) && keep_log=1
log=${CIWRAP_VM_LOG:-}
if [[ -z $log ]] && ((keep_log)); then
	log=$(mktemp /tmp/ci-wrap-vm-console.XXXXXX.log)
fi
if [[ -n $log ]]; then
	cp "$console" "$log"
	echo "# vm: guest console log: $log (last lines:)"
	tail -n 25 "$console" | tr -d '\r' | cut -c 1-200 | sed 's/^/#   | /'
fi
timing+=("total $((SECONDS - t0)) s")
finish
