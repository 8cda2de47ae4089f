# shellcheck shell=bash
# Harness of the guest tests, sourced by guest/pool.sh; modelled on
# tests/integration/lib.sh, smaller. A test file defines functions and ends with
#     tcase NAME TIMEOUT_SECONDS FUNCTION
# Each case runs in a fresh bash (the file executed again) under timeout(1),
# with its own directory $WORK; its result goes to fd 3 (the results port) as
# "ok - vm/<driver>/<case>" or "not ok - vm/<driver>/<case>: why", followed
# by its "# " notes, and its output to the console when it fails.
# Environment (from entry.sh): CI_WRAP, VM_DRIVER (systemd or cgroupfs),
# VM_FILTER (words: run only cases whose "driver/case" contains one), IMG.
set -u

_VM_FILE=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
_VM_ARGV=("$@")
# Everything a test makes directly carries this label; removed at the case's end.
# shellcheck disable=SC2034 # used by the test files
TL=(--label ci-wrap-vm-test=1)

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	[[ -n ${_VM_REASON:-} ]] && printf '%s\n' "$*" >>"$_VM_REASON"
	exit 1
}

# A line the results show under the case's result, pass or fail.
note() { [[ -n ${_VM_NOTES:-} ]] && printf '#   %s\n' "$*" >>"$_VM_NOTES"; }

assert_eq() { # WHAT WANT GOT
	[[ $2 == "$3" ]] || fail "$1: expected '$2', got '$3'"
}

wait_until() { # SECONDS COMMAND...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

cw() { "$CI_WRAP" "$@"; }

cw_inner() { # [CI-WRAP OPTIONS] -- FUNCTION [ARGS]: FUNCTION as ci-wrap's command
	local opts=()
	while (($#)) && [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	local fn=$1
	shift
	_VM_INNER=$fn "$CI_WRAP" "${opts[@]}" -- bash "$_VM_FILE" "$@"
}

_vm_case_cleanup() {
	local rc=$? pids ids
	# ci-wrap's stderr (and the inner command's) for the console log.
	((rc != 0)) && [[ -s $WORK/err ]] && tail -n 20 "$WORK/err" | sed 's/^/stderr: /' >&2
	pids=$(jobs -p)
	# shellcheck disable=SC2086 # one pid per word
	[[ -n $pids ]] && kill -KILL $pids 2>/dev/null
	[[ -n ${_VM_CLEANUP:-} ]] && eval "$_VM_CLEANUP"
	mapfile -t ids < <(docker ps -aq --filter label=ci-wrap-vm-test=1 2>/dev/null)
	((${#ids[@]})) && docker rm -f -v "${ids[@]}" >/dev/null 2>&1
	rm -rf "$WORK"
	exit "$rc"
}

# Extra cleanup code for this case, run at its end whatever happens.
on_cleanup() { _VM_CLEANUP+="$*;"; }

_vm_result() { # STATUS NAME [REASON]
	printf '%s - %s%s\n' "$1" "$2" "${3:+: $3}" >&3
	printf '%s - %s%s\n' "$1" "$2" "${3:+: $3}"
}

tcase() { # NAME TIMEOUT FUNCTION
	if [[ -n ${_VM_INNER:-} ]]; then
		local fn=$_VM_INNER
		unset _VM_INNER
		"$fn" "${_VM_ARGV[@]}"
		exit $?
	fi
	if [[ -n ${_VM_CASE:-} ]]; then
		if [[ $_VM_CASE == "$1" ]]; then
			WORK=$_VM_WORK
			mkdir -p "$WORK"
			export WORK
			_VM_CLEANUP=
			trap _vm_case_cleanup EXIT
			trap 'exit 143' TERM
			"$3"
			exit $?
		fi
		return 0
	fi
	local name=$VM_DRIVER/$1 f sel=0 tmp rc reason ids
	if [[ -n ${VM_FILTER:-} ]]; then
		for f in $VM_FILTER; do [[ $name == *"$f"* ]] && sel=1; done
		((sel)) || return 0
	fi
	tmp=$(mktemp -d /tmp/vmt.XXXXXX)
	: >"$tmp/notes"
	echo "# case vm/$name"
	{
		_VM_CASE=$1 _VM_WORK=$tmp/work _VM_REASON=$tmp/reason _VM_NOTES=$tmp/notes \
			timeout -k 10 "$2" bash "$_VM_FILE" </dev/null >"$tmp/out" 2>&1
	} 2>/dev/null
	rc=$?
	# A case killed by timeout(1) had no chance to run its trap.
	mapfile -t ids < <(docker ps -aq --filter label=ci-wrap-vm-test=1 2>/dev/null)
	((${#ids[@]})) && docker rm -f -v "${ids[@]}" >/dev/null 2>&1
	reason=$(head -n 1 "$tmp/reason" 2>/dev/null)
	if ((rc == 0)); then
		_vm_result ok "vm/$name"
	else
		[[ $rc == 124 || $rc == 137 ]] && reason="timed out after ${2}s${reason:+ ($reason)}"
		_vm_result "not ok" "vm/$name" "${reason:-exited with status $rc}"
		sed 's/^/# | /' "$tmp/out" | tail -n 40
	fi
	cat "$tmp/notes" >&3
	cat "$tmp/notes"
	rm -rf "$tmp"
	return 0
}
