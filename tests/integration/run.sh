#!/usr/bin/env bash
# Run ci-wrap's integration tests against the real docker daemon.
#
#   tests/integration/run.sh [BINARY] [FILTER...]
#
# BINARY (an argument containing '/' or naming an existing file) is the ci-wrap
# to test; default $CI_WRAP, else ./ci-wrap at the repository root. FILTERs
# (or the words of $TESTS) select cases whose "NN-topic/case" name contains one
# of them, e.g. `run.sh ./ci-wrap 20-streams` or `TESTS=hostile/ping run.sh`.
# After each file, anything left with a ci-wrap.session label by this run, a new
# /tmp/ci-wrap.* directory or a process of the run counts as a failed "leaks"
# case and is removed. The last line is "N passed, N failed[, N skipped]"; the
# exit status is 1 when anything failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

bin=${CI_WRAP:-$root/ci-wrap}
if (($#)) && [[ $1 == */* || -f $1 ]]; then
	bin=$1
	shift
fi
filters=("$@")
if ((${#filters[@]} == 0)) && [[ -n ${TESTS:-} ]]; then
	read -ra filters <<<"$TESTS"
fi

# One environment for every case: the real daemon, a job id that marks what
# this run's sessions create, and nothing a CI host might leak into ci-wrap.
CIWT_RUN=$(date +%Y%m%d%H%M%S)-$$
if [[ ${DOCKER_HOST:-} != unix://* ]]; then
	DOCKER_HOST=unix:///var/run/docker.sock
fi
CIWT_DOCKER_HOST=$DOCKER_HOST
CIWT_RESULTS=$(mktemp /tmp/ciwt-results.XXXXXX)
CIWT_FILTER="${filters[*]}"
BUILD_TAG=ciwt-$CIWT_RUN
export CIWT_RUN CIWT_DOCKER_HOST CIWT_RESULTS CIWT_FILTER DOCKER_HOST BUILD_TAG
unset CI_JOB_ID GITHUB_RUN_ID DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
while read -r v; do unset "$v"; done < <(compgen -e | grep '^CI_WRAP_')

# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
trap 'rm -f "$CIWT_RESULTS"' EXIT

summary() {
	local passed failed skipped
	passed=$(grep -c '^ok - ' "$CIWT_RESULTS")
	failed=$(grep -c '^not ok - ' "$CIWT_RESULTS")
	skipped=$(grep -c '^skip - ' "$CIWT_RESULTS")
	if ((failed)); then
		echo "# failed:"
		sed -n 's/^not ok - /#   /p' "$CIWT_RESULTS"
	fi
	if ((skipped)); then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	((failed == 0))
}

preflight() {
	local t
	for t in docker jq python3 timeout script sha256sum ss curl socat; do
		command -v "$t" >/dev/null || {
			echo "$t not found (scripts/setup.sh installs it)"
			return 1
		}
	done
	[[ -x $bin && ! -d $bin ]] || {
		echo "ci-wrap binary '$bin' not found or not executable (run make)"
		return 1
	}
	timeout 15 docker version >/dev/null 2>&1 || {
		echo "no docker daemon answers on $DOCKER_HOST (run scripts/setup.sh)"
		return 1
	}
	docker image inspect "$IMG" >/dev/null 2>&1 || {
		echo "test image $IMG missing (run scripts/setup.sh)"
		return 1
	}
}

# "TYPE ID JOB" for every object labelled ci-wrap.session.
session_objects() {
	local ids
	ids=$(docker ps -aq --no-trunc --filter label=ci-wrap.session)
	# shellcheck disable=SC2086 # one id per word
	[[ -n $ids ]] && docker container inspect $ids 2>/dev/null |
		jq -r '.[] | "container \(.Id) \(.Config.Labels["ci-wrap.job"] // "-")"'
	ids=$(docker network ls -q --no-trunc --filter label=ci-wrap.session)
	# shellcheck disable=SC2086
	[[ -n $ids ]] && docker network inspect $ids 2>/dev/null |
		jq -r '.[] | "network \(.Id) \(.Labels["ci-wrap.job"] // "-")"'
	ids=$(docker volume ls -q --filter label=ci-wrap.session)
	# shellcheck disable=SC2086
	[[ -n $ids ]] && docker volume inspect $ids 2>/dev/null |
		jq -r '.[] | "volume \(.Name) \(.Labels["ci-wrap.job"] // "-")"'
	ids=$(docker images -q --no-trunc --filter label=ci-wrap.session | sort -u)
	# shellcheck disable=SC2086
	[[ -n $ids ]] && docker image inspect $ids 2>/dev/null |
		jq -r '.[] | "image \(.Id) \(.Config.Labels["ci-wrap.job"] // "-")"'
	return 0
}

# Objects of this run's sessions: their job id carries the run id (BUILD_TAG or
# a test's --job-id), or they have no job label and appeared during the file.
leaked_objects() { # BEFORE-FILE
	local type id job
	session_objects | while read -r type id job; do
		if [[ $job == *"$CIWT_RUN"* ]] || { [[ $job == - ]] && ! grep -qF " $id " "$1"; }; then
			echo "$type $id"
		fi
	done
}

# ci-wrap makes its private directory in $TMPDIR if that is absolute, else /tmp.
run_dirs() {
	compgen -G '/tmp/ci-wrap.*'
	[[ ${TMPDIR:-/tmp} == /* && ${TMPDIR:-/tmp} != /tmp ]] && compgen -G "$TMPDIR/ci-wrap.*"
	return 0
}

# Processes started by this run's cases (they carry _CIWT_TAG) still alive.
leaked_procs() {
	local f pid
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}
		pid=${pid%/environ}
		[[ $pid == "$$" ]] && continue
		grep -qzx "_CIWT_TAG=$CIWT_RUN" "$f" 2>/dev/null && echo "$pid"
	done
	return 0
}

# New /tmp/ci-wrap.* directories. One whose socket a process outside this run
# listens on is a live session of someone else on this host: not ours.
leaked_dirs() { # BEFORE-FILE
	local dir pid
	run_dirs | while read -r dir; do
		grep -qxF "$dir" "$1" && continue
		pid=$(ss -xlpn 2>/dev/null | grep -F " $dir/" | grep -o 'pid=[0-9]*' | head -n 1)
		pid=${pid#pid=}
		if [[ -n $pid ]] && ! grep -qzx "_CIWT_TAG=$CIWT_RUN" "/proc/$pid/environ" 2>/dev/null; then
			echo "# note: ignoring $dir: live session of pid $pid, not this run's" >>"$tmp/notes"
			continue
		fi
		echo "$dir"
	done
}

check_leaks() { # STEM BEFORE-OBJECTS BEFORE-DIRS
	local stem=$1 objs dirs procs deadline=$((SECONDS + 20)) desc=() pid type id
	# A session killed by a case's timeout may still be tearing down.
	while :; do
		objs=$(leaked_objects "$2")
		dirs=$(leaked_dirs "$3")
		procs=$(leaked_procs)
		[[ -z $objs$dirs$procs ]] && break
		((SECONDS < deadline)) || break
		sleep 1
	done
	if [[ -s $tmp/notes ]]; then
		sort -u "$tmp/notes"
		rm -f "$tmp/notes"
	fi
	if [[ -z $objs$dirs$procs ]]; then
		_ciwt_result ok "$stem/leaks"
		return
	fi
	while read -r type id; do
		[[ -n $id ]] || continue
		desc+=("$type ${id:0:12}")
		case $type in
		container) docker rm -f -v "$id" >/dev/null 2>&1 ;;
		network) docker network rm "$id" >/dev/null 2>&1 ;;
		volume) docker volume rm -f "$id" >/dev/null 2>&1 ;;
		image) docker rmi -f "$id" >/dev/null 2>&1 ;;
		esac
	done <<<"$objs"
	for pid in $procs; do
		desc+=("process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c 1-60))")
		kill -KILL "$pid" 2>/dev/null
	done
	while read -r id; do
		[[ -n $id ]] || continue
		desc+=("directory $id")
		rm -rf "$id"
	done <<<"$dirs"
	_ciwt_result "not ok" "$stem/leaks" "left behind after the file: $(
		IFS=,
		echo "${desc[*]}"
	)"
}

echo "# ci-wrap integration tests, run $CIWT_RUN"
if ! why=$(preflight); then
	_ciwt_result "not ok" "preflight" "$why"
	summary
	exit 1
fi
bin=$(realpath "$bin")
export CI_WRAP=$bin
echo "# binary $bin; docker client $(docker version -f '{{.Client.Version}}' 2>/dev/null)," \
	"server $(docker version -f '{{.Server.Version}}' 2>/dev/null); job id $BUILD_TAG"

start=$SECONDS
tmp=$(mktemp -d /tmp/ciwt-run.XXXXXX)
trap 'rm -rf "$CIWT_RESULTS" "$tmp"' EXIT
for file in "$here"/[0-9][0-9]-*.sh; do
	[[ -e $file ]] || continue
	stem=$(basename "$file" .sh)
	session_objects >"$tmp/objects"
	run_dirs >"$tmp/dirs"
	before=$(wc -l <"$CIWT_RESULTS")
	t0=$SECONDS
	{ timeout -k 10 1800 bash "$file" 2>&1; } 2>/dev/null
	rc=$?
	if ((rc != 0)); then
		_ciwt_result "not ok" "$stem" "test file exited with status $rc"
	fi
	if (($(wc -l <"$CIWT_RESULTS") > before)); then
		check_leaks "$stem" "$tmp/objects" "$tmp/dirs"
		echo "# $stem: $((SECONDS - t0)) s"
	fi
done
ciwt_sweep_test_objects
echo "# total $((SECONDS - start)) s"
summary
